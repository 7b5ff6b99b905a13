"""Capacity benchmark: the packed layout beside the per-pass layout, each on its own etcd.

    python bench/bench_capacity.py [--detectors 50] [--per-day 40000] [--hours 4.8]
                                   [--linger 0]

For each layout a fresh etcd (EtcdProcess, 8 GiB quota) gets the passes `detectors`
detectors hear in `hours` at `per-day` passes a day each, each detector uploading what it
heard as the agent's uplink batches it (at central's bucket boundaries; or every `linger` s):
  per-pass  one key per pass, JSON value (the earlier layout), leased, 128 puts a txn;
  packed    EtcdStore.put_detections: one PassBlock per detector, bucket and batch.
Then it measures the etcd database bytes and keys per pass, etcd's RSS, a physical
compaction, and expiry: the oldest key's lease is revoked (per-pass: the day's, as it was;
packed: an hour's, as central leases now) while a writer puts one small key after another,
and the longest of those puts is the stall. Prints both layouts and
the ratios (targets: <= 100 B/pass packed; >= 40x fewer keys; stall <= 0.5 s at 50
detectors).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roadside.agent.passes import pass_ulid
from roadside.central.store import keys
from roadside.central.store import txn as etcd_txn
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore, split_writes
from roadside.central.store.records import Detection, detection_value

S = 1_000_000_000
GIB = 1024**3
NS = "cap"


PASS_GAP_S = 30  # the agent's default: a pass closes this long after its last sighting
LAST_AFTER_S = 3  # last sighting after the pass's timestamp, in these passes
SLACK_S = 15  # agent/uplink.py CLOSE_SLACK_S


def day_of_passes(detectors: int, per_day: int, hours: float, linger_s: float,
                  ) -> list[list[Detection]]:
    """Upload batches from the first `hours` of yesterday (UTC): each detector hears
    `per_day` passes a day, evenly, and sends what closed since its last batch, as the
    agent's uplink does: at each 100-s boundary + pass gap + slack (batch_linger_s, the
    default), or (linger_s > 0) every linger_s; round robin over the detectors."""
    day0 = (time.time_ns() // (86_400 * S) - 1) * 86_400 * S
    step = 86_400 * S // per_day
    per = int(per_day * hours / 24)
    window = int((linger_s or 100) * S)
    # a pass closes at t + LAST_AFTER_S + PASS_GAP_S; the uplink sends the passes of closed
    # buckets only, at each boundary + PASS_GAP_S + SLACK_S: a pass closing later than that
    # goes with the next bucket's batch (a second key for its bucket)
    lag = 0 if linger_s else max(0, LAST_AFTER_S - SLACK_S) * S
    batches: dict[tuple[int, int], list[Detection]] = {}
    for d in range(detectors):
        det = f"det-{d:03d}"
        for i in range(per):
            t = day0 + i * step + d * 1000
            device = f"{(d << 40) + i:032x}"
            ulid = pass_ulid(det, device, t - 2 * S)  # as a box makes it
            batches.setdefault(((t - day0 + lag) // window, d), []).append(
                (det, t, ulid, device, t - 2 * S, t + 3 * S, t, -70, 4,
                 "wifi", "wifi_global", False, False, ""))
    return [batches[k] for k in sorted(batches)]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_per_pass(client: object, batches: list[list[Detection]]) -> None:
    lease = client.lease(3 * 86_400).id  # type: ignore[attr-defined]
    for group in batches:
        writes = [(keys.detection_key(NS, d[0], d[1], d[2], d[3]),
                   detection_value(d[1], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]),
                   lease) for d in group]
        etcd_txn.commit(client, [etcd_txn.txn_request(g)  # type: ignore[arg-type]
                                 for g in split_writes(writes)])


def write_packed(client: object, batches: list[list[Detection]]) -> None:
    store = EtcdStore(client, NS, retention_days=2)  # type: ignore[arg-type]
    for group in batches:
        store.put_detections(group)
    store.close()


def expiry_stall(client: object) -> tuple[float, float]:
    """(longest put while the day's lease is revoked, the revocation's own time) in s."""
    prefix = keys.detections_prefix(NS)
    first = client.get_range_response(prefix, keys.prefix_end(prefix), limit=1)  # type: ignore[attr-defined]
    lease_id = first.kvs[0].lease
    longest = [0.0]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            begin = time.perf_counter()
            client.put(f"/{NS}/probe/{i % 100}", b"x")  # type: ignore[attr-defined]
            longest[0] = max(longest[0], time.perf_counter() - begin)
            i += 1

    thread = threading.Thread(target=writer, name="probe-writer")
    thread.start()
    begin = time.perf_counter()
    client.revoke_lease(lease_id)  # type: ignore[attr-defined]
    revoke_s = time.perf_counter() - begin
    stop.set()
    thread.join()
    return longest[0], revoke_s


def measure(layout: str, batches: list[list[Detection]], passes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp, \
            EtcdProcess(Path(tmp) / "etcd", quota_bytes=8 * GIB) as etcd:
        client = connect([etcd.endpoint], timeout=600)  # a compaction of millions of keys
        before = client.status().db_size
        begin = time.perf_counter()
        (write_per_pass if layout == "per-pass" else write_packed)(client, batches)
        ingest_s = time.perf_counter() - begin
        resp = client.get_response(keys.detections_prefix(NS), range_end=keys.prefix_end(
            keys.detections_prefix(NS)).encode(), count_only=True)
        stored_keys = int(resp.count)
        db = client.status().db_size - before
        rss = rss_mib(etcd.pid or 0)
        begin = time.perf_counter()
        client.compact(int(resp.header.revision), physical=True)
        compact_s = time.perf_counter() - begin
        client.defragment()
        at_rest = client.status().db_size - before  # old revisions (dirty markers) gone
        stall_s, revoke_s = expiry_stall(client)
        client.close()
    return {"keys": stored_keys, "bytes_per_pass": db / passes, "at_rest": at_rest / passes,
            "keys_per_pass": stored_keys / passes,
            "rss_mib": rss, "ingest_per_s": passes / ingest_s, "compact_s": compact_s,
            "stall_s": stall_s, "revoke_s": revoke_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", type=int, default=50)
    parser.add_argument("--per-day", type=int, default=40_000, help="passes per detector a day")
    parser.add_argument("--hours", type=float, default=4.8, help="of the day, stored")
    parser.add_argument("--layouts", default="per-pass,packed",
                        help="which to measure (per-pass at a day of 50 detectors takes minutes)")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="a batch every N s (0: at each bucket boundary, as the agent)")
    args = parser.parse_args()
    batches = day_of_passes(args.detectors, args.per_day, args.hours, args.linger)
    passes = sum(len(b) for b in batches)
    when = f"every {args.linger:g} s" if args.linger else "at bucket boundaries"
    print(f"{passes:,} passes: {args.detectors} detectors x {args.per_day:,}/day for "
          f"{args.hours:g} h, batches {when} ({passes / len(batches):.1f} passes each); "
          f"pid {os.getpid()}")
    results = {}
    for layout in args.layouts.split(","):
        results[layout] = measure(layout, batches, passes)
        r = results[layout]
        print(f"{layout:>9}: {r['keys']:>9,} keys  {r['bytes_per_pass']:6.1f} B/pass written, "
              f"{r['at_rest']:6.1f} compacted  "
              f"{r['keys_per_pass']:.4f} keys/pass  etcd RSS {r['rss_mib']:7.1f} MiB  "
              f"ingest {r['ingest_per_s']:>9,.0f}/s  compact {r['compact_s']:.2f} s  "
              f"expiry: revoke {r['revoke_s']:.2f} s, longest put {r['stall_s']:.3f} s")
    if len(results) < 2:
        return 0
    old, new = results["per-pass"], results["packed"]

    def ratio(name: str, digits: int = 3) -> str:
        """packed / per-pass, or "n/a" where the baseline measured nothing (a tiny run)."""
        return f"{new[name] / old[name]:.{digits}f}" if old[name] else "n/a"

    print(f"ratios packed/per-pass: bytes {ratio('bytes_per_pass')} "
          f"({ratio('at_rest')} compacted), "
          f"keys 1/{old['keys'] / max(1, new['keys']):.0f}, "
          f"RSS {ratio('rss_mib', 2)}, ingest {ratio('ingest_per_s', 2)}, "
          f"compact {ratio('compact_s')}, longest put during expiry {ratio('stall_s')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
