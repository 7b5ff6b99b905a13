"""Capacity benchmark: the packed layout beside the per-pass layout, each on its own etcd.

    python bench/bench_capacity.py [--detectors 50] [--per-day 40000] [--hours 4.8]
                                   [--linger 15]

For each layout a fresh etcd (EtcdProcess, 8 GiB quota) gets the passes `detectors`
detectors hear in `hours` at `per-day` passes a day each, each detector uploading what it
heard as the agent's uplink batches it (every `linger` s, its batch_linger_s):
  per-pass  one key per pass, JSON value (the earlier layout), leased, 128 puts a txn;
  packed    EtcdStore.put_detections: one PassBlock per detector, bucket and batch; then
            the compactor merges each closed bucket's blocks into one (central does this
            compact_after_s after a bucket ends), timed.
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
from roadside.central.store import compaction, keys
from roadside.central.store import txn as etcd_txn
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore, split_writes
from roadside.central.store.records import Detection, detection_value

S = 1_000_000_000
GIB = 1024**3
NS = "cap"


def day_of_passes(detectors: int, per_day: int, hours: float, linger_s: float,
                  ) -> list[list[Detection]]:
    """Upload batches from the first `hours` of yesterday (UTC): each detector hears
    `per_day` passes a day, evenly, and sends what closed since its last batch every
    linger_s, as the agent's uplink does; round robin over the detectors."""
    day0 = (time.time_ns() // (86_400 * S) - 1) * 86_400 * S
    step = 86_400 * S // per_day
    per = int(per_day * hours / 24)
    window = int(linger_s * S)
    batches: dict[tuple[int, int], list[Detection]] = {}
    for d in range(detectors):
        det = f"det-{d:03d}"
        for i in range(per):
            t = day0 + i * step + d * 1000
            device = f"{(d << 40) + i:032x}"
            ulid = pass_ulid(det, device, t - 2 * S)  # as a box makes it
            batches.setdefault(((t - day0) // window, d), []).append(
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


def merge_packed(client: object) -> tuple[int, float]:
    """(keys before, seconds): the compactor's merge of every closed bucket."""
    before = count_keys(client)
    store = EtcdStore(client, NS, retention_days=2)  # type: ignore[arg-type]
    begin = time.perf_counter()
    compaction.compact_all(store)
    took = time.perf_counter() - begin
    store.close()
    return before, took


def count_keys(client: object) -> int:
    prefix = keys.detections_prefix(NS)
    resp = client.get_response(prefix, range_end=keys.prefix_end(  # type: ignore[attr-defined]
        prefix).encode(), count_only=True)
    return int(resp.count)


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
        sent_keys, merge_s = (merge_packed(client) if layout == "packed"
                              else (count_keys(client), 0.0))
        stored_keys = count_keys(client)
        resp = client.get_response(keys.detections_prefix(NS), range_end=keys.prefix_end(
            keys.detections_prefix(NS)).encode(), count_only=True)
        db = client.status().db_size - before
        rss = rss_mib(etcd.pid or 0)
        begin = time.perf_counter()
        client.compact(int(resp.header.revision), physical=True)
        compact_s = time.perf_counter() - begin
        client.defragment()
        at_rest = client.status().db_size - before  # old revisions (dirty markers) gone
        stall_s, revoke_s = expiry_stall(client)
        client.close()
    return {"keys": stored_keys, "sent_keys": sent_keys, "merge_s": merge_s,
            "bytes_per_pass": db / passes, "at_rest": at_rest / passes,
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
    parser.add_argument("--linger", type=float, default=15.0,
                        help="a batch every N s (default 15: the agent's batch_linger_s)")
    args = parser.parse_args()
    if args.linger <= 0:
        parser.error("--linger: must be above 0")
    batches = day_of_passes(args.detectors, args.per_day, args.hours, args.linger)
    passes = sum(len(b) for b in batches)
    when = f"every {args.linger:g} s"
    print(f"{passes:,} passes: {args.detectors} detectors x {args.per_day:,}/day for "
          f"{args.hours:g} h, batches {when} ({passes / len(batches):.1f} passes each); "
          f"pid {os.getpid()}")
    results = {}
    for layout in args.layouts.split(","):
        results[layout] = measure(layout, batches, passes)
        r = results[layout]
        merged = (f" (as sent {r['sent_keys']:,}, merged in {r['merge_s']:.2f} s)"
                  if layout == "packed" else "")
        print(f"{layout:>9}: {r['keys']:>9,} keys{merged}  "
              f"{r['bytes_per_pass']:6.1f} B/pass written, "
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
