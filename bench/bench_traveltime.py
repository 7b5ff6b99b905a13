"""Travel-time engine throughput, and the delay from a window's close to its published result.

1. Matched passes per second through the engine (matching, per-window robust statistics,
   summaries) on passes already read; target >= 200,000/s. Baselines, same run, same
   samples: Python's sort of the samples alone, and building the src index alone.
2. The same through etcd: passes read by the engine's range reads, matched and summarised;
   baseline: the raw range reads of the same keys, each block parsed and every pass's
   device and time taken out (the reading and decoding any engine needs, without matching).
3. A worker against a real etcd with short windows: the time from each window's end to the
   moment its result is in etcd (seen by a watch). Baseline: the configured grace.

    .venv/bin/python bench/bench_traveltime.py [--passes 500000] [--windows 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from roadside.central.store import keys
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import LinkRecord, StoredPass
from roadside.central.store.ulids import deterministic_ulid
from roadside.central.traveltime import engine, matching, stats, store, windowblocks
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.central.traveltime.model import Target
from roadside.central.traveltime.worker import TravelTimeWorker
from roadside.proto.v1 import stored_pb2

S = 1_000_000_000
W = 300
TARGET_PER_S = 200_000
T0 = (int(time.time()) - 86_400) // W * W  # a day ago, on a window start
NS = "bench"


def synthetic(n: int, seed: int = 3) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """n devices over a link: passes at src, and at dest 100-200 s later (one in ten not).

    They start a day ago: recent enough for central's retention leases to keep them.
    """
    rng = random.Random(seed)
    span = max(n // 20, 1) * 1.0  # about 20 devices a second
    src, dest = [], []
    for i in range(n):
        device = f"{rng.getrandbits(128):032x}"
        t0 = T0 * S + int(rng.random() * span * S)
        src.append((device, t0))
        if i % 10:
            dest.append((device, t0 + int(rng.uniform(100, 200) * S)))
    src.sort(key=lambda p: p[1])
    dest.sort(key=lambda p: p[1])
    return src, dest


def best_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def engine_in_memory(n: int) -> None:
    src, dest = synthetic(n)
    target = Target((LinkRecord("a", "b", 600),))
    first = dest[0][1] // S // W * W
    starts = list(range(first, dest[-1][1] // S + W, W))
    rules = stats.Rules()
    out: list[object] = []
    t = best_of(3, lambda: out.append(engine.compute_from_passes(
        target, [src], dest, starts, W, rules)))
    matched = sum(w.count + sum(w.rejections.values()) for w in out[-1])  # type: ignore[attr-defined]
    samples = [s for w in out[-1] for s in w.samples_s]  # type: ignore[attr-defined]
    t_sort = best_of(3, lambda: sorted(samples))
    t_index = best_of(3, lambda: matching.index_passes(src))
    print(f"engine, in memory: {len(dest):,} dest passes, {matched:,} matched, "
          f"{len(starts)} windows")
    print(f"  engine            {matched / t:12,.0f} matched passes/s  ({t * 1000:.0f} ms)"
          f"   target {TARGET_PER_S:,}/s: {'met' if matched / t >= TARGET_PER_S else 'NOT met'}")
    print(f"  baseline: sort    {len(samples) / t_sort:12,.0f} samples/s        "
          f"({t_sort * 1000:.0f} ms, sorted() of the same samples)")
    print(f"  baseline: index   {len(src) / t_index:12,.0f} src passes/s     "
          f"({t_index * 1000:.0f} ms, the src dict alone)")


def engine_through_etcd(client: object, n: int) -> None:
    src, dest = synthetic(n, seed=5)
    central = EtcdStore(client, NS)  # type: ignore[arg-type]
    central.set_links("b", [LinkRecord("a", "b", 600)])

    def stored(detector: str, items: list[tuple[str, int]]) -> list[StoredPass]:
        return [StoredPass(detector, deterministic_ulid(t, detector, d), d, t, t, t, t, -60, 1,
                           "ble", "ble_public") for d, t in items]

    for det, items in (("a", src), ("b", dest)):
        batch = stored(det, items)
        for i in range(0, len(batch), 5000):
            central.put_passes(batch[i:i + 5000])
    target = Target((LinkRecord("a", "b", 600),))
    first = dest[0][1] // S // W * W
    starts = list(range(first, dest[-1][1] // S + W, W))
    out: list[object] = []
    t = best_of(2, lambda: out.append(engine.compute_windows(
        client, NS, target, starts, W, stats.Rules())))  # type: ignore[arg-type]
    matched = sum(w.count + sum(w.rejections.values()) for w in out[-1])  # type: ignore[attr-defined]
    prefixes = [keys.detector_prefix(NS, d) for d in ("a", "b")]

    def raw_read() -> int:  # one range per detector, as the engine reads; blocks decoded
        found = 0
        for prefix in prefixes:
            for _key, value, _rev in store.range_pages(
                    client, prefix, keys.prefix_end(prefix)):  # type: ignore[arg-type]
                block = stored_pb2.PassBlock.FromString(value)
                found += len([(p.device, block.bucket_ns + p.timestamp_offset_ns)
                              for p in block.passes])
        return found

    t_raw = best_of(2, raw_read)
    total = len(src) + len(dest)
    print(f"engine, through etcd: {total:,} stored passes read, {matched:,} matched")
    print(f"  engine            {matched / t:12,.0f} matched passes/s  ({t:.2f} s, "
          f"{total / t:,.0f} passes read/s)")
    print(f"  baseline: read    {total / t_raw:12,.0f} passes/s         ({t_raw:.2f} s, raw "
          "range reads of the same keys, blocks decoded to device and time)")
    print(f"  engine / baseline {t_raw / t:12.2f} (passes read and matched / read and decoded)")


async def publish_delay(client: object, windows: int) -> None:
    window_s, grace_s = 4, 1.0
    central = EtcdStore(client, "delay")  # type: ignore[arg-type]
    central.set_links("b", [LinkRecord("a", "b", 60)])
    config = TravelTimeConfig(namespace="delay", window_s=window_s, grace_s=grace_s,
                              backfill_s=window_s, lock_ttl_s=5, worker_id="bench")
    prefix = keys.link_windows_prefix("delay", "a", "b")
    seen: dict[int, float] = {}
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def on_put(response: object) -> None:
        now = time.time()
        for event in getattr(response, "events", []):
            for start in windowblocks.starts(event.value):
                if start + window_s > begun:  # closed while we watched: not a backfilled one
                    seen.setdefault(start, now)
        if len(seen) >= windows:
            loop.call_soon_threadsafe(done.set)

    begun = time.time()
    watch_id = client.add_watch_prefix_callback(prefix, on_put)  # type: ignore[attr-defined]
    async with TravelTimeWorker(client, config):  # type: ignore[arg-type]
        # passes keep arriving while the worker runs: a device a second
        feeder = asyncio.create_task(_feed(central, done), name="bench-feeder")
        await asyncio.wait_for(done.wait(), timeout=windows * window_s * 3 + 30)
        await feeder
    client.cancel_watch(watch_id)  # type: ignore[attr-defined]
    delays = [seen[s] - (s + window_s) for s in sorted(seen)]
    print(f"publish delay: worker on real etcd, windows of {window_s} s, grace {grace_s:g} s, "
          f"{len(delays)} windows")
    print(f"  window end -> result in etcd: median {statistics.median(delays):.2f} s, "
          f"max {max(delays):.2f} s")
    print(f"  baseline: the configured grace {grace_s:.2f} s (the worker adds "
          f"{statistics.median(delays) - grace_s:+.2f} s)")


async def _feed(central: EtcdStore, done: asyncio.Event) -> None:
    n = 0
    while not done.is_set():
        now = time.time_ns()
        device = f"{n:032x}"
        passes = [
            StoredPass("a", deterministic_ulid(now - 2 * S, "a", device), device, now - 2 * S,
                       now - 2 * S, now - 2 * S, now - 2 * S, -60, 1, "ble", "ble_public"),
            StoredPass("b", deterministic_ulid(now, "b", device), device, now, now, now, now,
                       -60, 1, "ble", "ble_public"),
        ]
        await asyncio.to_thread(central.put_passes, passes)
        n += 1
        try:
            await asyncio.wait_for(done.wait(), timeout=0.2)  # pace: five devices a second
        except TimeoutError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=500_000, help="devices in the in-memory run")
    ap.add_argument("--etcd-passes", type=int, default=100_000, help="devices through etcd")
    ap.add_argument("--windows", type=int, default=8, help="windows timed in the delay run")
    args = ap.parse_args()
    engine_in_memory(args.passes)
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp) / "etcd")
        etcd.start()
        client = connect([etcd.endpoint])
        try:
            engine_through_etcd(client, args.etcd_passes)
            asyncio.run(publish_delay(client, args.windows))
        finally:
            client.close()
            etcd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
