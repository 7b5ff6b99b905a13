"""Freshness: from a device passing the destination detector to its travel time on the feed.

Real agent pipelines in real time (a source emitting each device's sightings when they
happen -> keyed hash -> passes -> disk buffer -> uplink -> central -> etcd), with the
agents' defaults (a pass closes pass_gap_s after its last sighting; a partial batch waits up
to batch_linger_s for more), a travel-time worker on the same etcd and the HTTP feed.

A device leaves the source detector every --every seconds and reaches the destination a
travel time later, each device its own travel time, so that its sample is recognised among
the figure's samples. Figures per device, from its pass at the destination (the pass's peak):
  stored    its pass is in etcd (the agent side: pass close after pass_gap_s, batching, upload)
  live      its sample is in the live figure (the worker's round, every live_every_s), read
            over gRPC; the HTTP feed serves that same figure (its `computed`) in the same poll
  window    its sample is in a published window (the windowed path, same run: the baseline)
Targets (issue #24): the live path median <= 90 s and p95 <= 150 s.

    .venv/bin/python bench/bench_freshness.py [--minutes 8] [--every 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # (the etcd client's keepalive notes)
import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from local_central import local_central  # noqa: E402

from roadside.agent.config import AgentConfig  # noqa: E402
from roadside.agent.model import AddressKind, RadioKind, Sighting  # noqa: E402
from roadside.agent.privacy import DeviceHasher  # noqa: E402
from roadside.agent.runner import AgentRunner  # noqa: E402
from roadside.agent.sources.base import Emit, stopped_within  # noqa: E402
from roadside.central.http.apikeys import ApiKeys  # noqa: E402
from roadside.central.store import keys, packed  # noqa: E402
from roadside.central.store.client import connect  # noqa: E402
from roadside.central.store.etcd_store import EtcdStore  # noqa: E402
from roadside.central.store.records import LinkRecord  # noqa: E402
from roadside.central.traveltime.config import TravelTimeConfig  # noqa: E402
from roadside.central.traveltime.worker import TravelTimeWorker  # noqa: E402
from roadside.proto.v1 import query_pb2, query_pb2_grpc  # noqa: E402

NS = "bench"
S = 1_000_000_000
SECRET = b"bench-freshness-site-secret-0123"
BASE_TT_S = 60.0  # travel times: BASE_TT_S + i * STEP_S, one per device
STEP_S = 0.05
TARGET_MEDIAN_S, TARGET_P95_S = 90.0, 150.0
POLL_S = 1.0
PROGRESS_S = 30.0  # a progress line this often
CALL_S = 10.0
SETUPS: dict[str, dict[str, float]] = {"default": {}}  # name -> AgentConfig overrides


class Timed:
    """A source that emits planned sightings when their time comes (a radio in real time)."""

    silence_limit_s: float | None = None

    def __init__(self, name: str, plan: Sequence[tuple[int, bytes, int]]) -> None:
        self.name = name
        self.plan = sorted(plan)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        for t_ns, mac, rssi in self.plan:
            if await stopped_within(stop, max(0.0, (t_ns - time.time_ns()) / S)):
                return
            emit(Sighting(mac, t_ns, rssi, RadioKind.BLE, AddressKind.BLE_PUBLIC, self.name))
        await stop.wait()


@dataclass
class Device:
    mac: bytes
    travel_s: float
    at_dest_ns: int  # the peak of its pass at the destination
    stored: float | None = None  # wall-clock seconds at which each stage saw it
    live: float | None = None
    live_end_ns: int = 0  # the end of the live figure it first showed in
    http: float | None = None
    window: float | None = None


def plan(start_s: float, minutes: float, every_s: float) -> list[tuple[int, Device]]:
    """(leaves the source at, device) for each device."""
    out = []
    for i in range(int(minutes * 60 / every_s)):
        leave = start_s + i * every_s
        travel = round(BASE_TT_S + i * STEP_S, 3)
        out.append((int(leave * S), Device(os.urandom(6), travel,
                                           int((leave + travel + 1) * S))))
    return out


def sightings(at_ns: int, mac: bytes) -> list[tuple[int, bytes, int]]:
    """Three sightings a second apart, the strongest in the middle (the pass's peak)."""
    return [(at_ns + k * S, mac, rssi) for k, rssi in enumerate((-70, -50, -70))]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, values: list[float], of: int) -> str:
    if not values:
        return f"    {name:<8} none of {of} devices"
    return (f"    {name:<8} median {statistics.median(values):6.1f} s   p95 "
            f"{percentile(values, 0.95):6.1f} s   max {max(values):6.1f} s   ({len(values)} of "
            f"{of} devices)")


class Watcher:
    """Polls etcd, gRPC and the HTTP feed once a second; marks when each device shows."""

    def __init__(self, endpoint: str, query_addr: str, http_url: str, key: str,
                 links: dict[str, list[Device]]) -> None:
        self.client = connect([endpoint])
        self.channel = grpc.insecure_channel(query_addr)
        self.stub = query_pb2_grpc.QueryServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.http_url, self.key, self.links = http_url, key, links
        self.hasher = DeviceHasher(SECRET)

    def poll(self, since_ns: int) -> None:
        now = time.time()
        for setup, devices in self.links.items():
            ids = {self.hasher.device_id(d.mac, d.at_dest_ns): d for d in devices
                   if d.stored is None}
            for value, meta in self.client.get_prefix(keys.detector_prefix(NS, f"{setup}-b")):
                for p in packed.decode(NS, meta.key, value):
                    if p.device_id in ids:
                        ids.pop(p.device_id).stored = now
            link = query_pb2.LinkRef(src_detector_id=f"{setup}-a", dest_detector_id=f"{setup}-b")
            live = self.stub.GetTravelTimes(query_pb2.GetTravelTimesRequest(
                link=link, live=True, include_samples=True), timeout=CALL_S).windows
            windows = self.stub.GetTravelTimes(query_pb2.GetTravelTimesRequest(
                link=link, since_ns=since_ns, include_samples=True), timeout=CALL_S).windows
            served = self.feed_live_end(f"link/{setup}-a/{setup}-b")
            in_live = {round(s, 3) for w in live for s in w.samples_s}
            in_windows = {round(s, 3) for w in windows for s in w.samples_s}
            for d in devices:
                if d.live is None and d.travel_s in in_live:
                    d.live, d.live_end_ns = now, live[0].window_end_ns
                if d.http is None and d.live is not None and served >= d.live_end_ns:
                    d.http = now  # the feed serves that figure (or a newer one)
                if d.window is None and d.travel_s in in_windows:
                    d.window = now

    def feed_live_end(self, target: str) -> int:
        """The end (ns) of the live figure the HTTP feed serves for `target` (0: none)."""
        request = urllib.request.Request(f"{self.http_url}/api/v1/travel-times?id={target}",
                                         headers={"Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(request, timeout=CALL_S) as reply:
            live = json.loads(reply.read())["entries"][0]["live"]
        return int(live["window_end_ns"]) if live else 0

    def close(self) -> None:
        self.channel.close()
        self.client.close()


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, list[Device]]:
    with local_central(tmp, http=True, retention_days=2.0) as central:
        endpoint = central.etcd_endpoints[0]
        client = connect([endpoint])
        store = EtcdStore(client, NS)
        for setup in SETUPS:
            store.set_links(f"{setup}-b", [LinkRecord(f"{setup}-a", f"{setup}-b", 600)])
        key = ApiKeys(client, NS).issue("bench", "viewer")
        worker = TravelTimeWorker(client, TravelTimeConfig(
            namespace=NS, etcd_endpoints=(endpoint,), window_s=args.window_s,
            grace_s=args.grace_s, live_window_s=args.window_s, live_every_s=args.live_every_s,
            alerts=False, metrics=False, worker_id="bench"))
        start = time.time() + 2.0
        since_ns = int(start * S)
        links: dict[str, list[Device]] = {}
        runners = []
        base = AgentConfig(detector_id="x", central=(central.collector_addr,), insecure=True,
                           pass_gap_s=args.pass_gap_s, metrics=False, status_interval_s=3600)
        for setup, overrides in SETUPS.items():
            trips = plan(start, args.minutes, args.every)
            links[setup] = [d for _t, d in trips]
            at_src = [s for t, d in trips for s in sightings(t, d.mac)]
            at_dest = [s for _t, d in trips for s in sightings(d.at_dest_ns - S, d.mac)]
            for end, items in (("a", at_src), ("b", at_dest)):
                config = replace(base, detector_id=f"{setup}-{end}",
                                 state_dir=tmp / f"{setup}-{end}", **overrides)
                runners.append(AgentRunner(config, [Timed(f"{setup}-{end}", items)],
                                           secret=SECRET))
        stop = asyncio.Event()
        await worker.start()
        tasks = [asyncio.create_task(r.run(stop)) for r in runners]
        watcher = Watcher(endpoint, central.query_addr, central.http_url, key, links)
        last_at_dest = max(d.at_dest_ns for ds in links.values() for d in ds) / S
        deadline = last_at_dest + args.tail_s
        said = 0.0
        try:
            while time.time() < deadline:
                await asyncio.to_thread(watcher.poll, since_ns)
                left = sum(1 for ds in links.values() for d in ds if d.window is None)
                if not left:  # every sample is in its window: the live path is long past
                    break
                if time.monotonic() - said >= PROGRESS_S:
                    said = time.monotonic()
                    print(f"  {time.strftime('%H:%M:%S')}: {left} samples not yet in a window",
                          file=sys.stderr, flush=True)
                await asyncio.sleep(POLL_S)  # a polling period, not synchronisation
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await worker.stop()
            watcher.close()
            client.close()
    return links


def overrides_text(overrides: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in overrides.items()) or "agent defaults"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="how long devices keep coming (default 8)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between devices")
    parser.add_argument("--pass-gap-s", type=float, default=30.0, help="the agents' pass_gap_s")
    parser.add_argument("--window-s", type=int, default=300, help="windows and the live window")
    parser.add_argument("--grace-s", type=float, default=90.0, help="the workers' grace_s")
    parser.add_argument("--live-every-s", type=float, default=60.0)
    parser.add_argument("--tail-s", type=float, default=600.0,
                        help="after the last device, how long to wait for its window")
    args = parser.parse_args()
    print(f"freshness: {len(SETUPS)} link(s), a device every {args.every:g} s for "
          f"{args.minutes:g} min; pass_gap_s {args.pass_gap_s:g}, windows {args.window_s} s, "
          f"grace {args.grace_s:g} s, live every {args.live_every_s:g} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        links = asyncio.run(run(args, Path(tmp)))
    verdicts = []
    for setup, devices in links.items():
        def ages(stage: str, ds: list[Device] = devices) -> list[float]:
            return [getattr(d, stage) - d.at_dest_ns / S for d in ds
                    if getattr(d, stage) is not None]
        print(f"  {setup} ({overrides_text(SETUPS[setup])}): from the pass at the "
              "destination to")
        for stage in ("stored", "live", "http", "window"):
            print(describe(stage, ages(stage), len(devices)))
        http, windowed = ages("http"), ages("window")
        if not windowed:  # not even the windows: the bench itself failed
            verdicts.append(f"{setup}: NOT MEASURED (no sample reached a window)")
            continue
        if len(http) < len(devices):
            verdicts.append(f"{setup}: MISSES ({len(devices) - len(http)} of {len(devices)} "
                            "samples never on the feed's live figure: they reached central "
                            "after they had left its window)")
            continue
        median, p95 = statistics.median(http), percentile(http, 0.95)
        ok = median <= TARGET_MEDIAN_S and p95 <= TARGET_P95_S
        verdicts.append(f"{setup}: {'meets' if ok else 'MISSES'} (median {median:.0f} s, "
                        f"p95 {p95:.0f} s; its windows: median "
                        f"{statistics.median(windowed):.0f} s)")
    print(f"target: on the HTTP feed median <= {TARGET_MEDIAN_S:g} s, p95 <= "
          f"{TARGET_P95_S:g} s; " + "; ".join(verdicts))
    return 0 if not any("NOT MEASURED" in v for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
