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
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roadside.agent.passes import pass_ulid
from roadside.central.store import archive, compaction, keys
from roadside.central.store import txn as etcd_txn
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore, split_writes
from roadside.central.store.records import Detection, LinkRecord, detection_value
from roadside.central.traveltime import archive as windows_archive
from roadside.central.traveltime import store as tt_store
from roadside.central.traveltime.model import Figures, Target, WindowSummary

S = 1_000_000_000
GIB = 1024**3
NS = "cap"
NS_S = 1_000_000_000
WINDOW_S = 300


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


def day_of_windows(target: Target, day: int, busy: int, rng: random.Random
                   ) -> list[tuple[Target, WindowSummary]]:
    """A day of 5-minute windows: busy (`busy` kept samples each) or idle (0: nobody seen,
    no-data windows)."""
    out = []
    for i in range(86_400 // WINDOW_S):
        start = (day * 86_400 + i * WINDOW_S) * NS_S
        common = dict(src=target.src, dest=target.dest, route=target.route,
                      window_start_ns=start, window_end_ns=start + WINDOW_S * NS_S,
                      computed_ns=start + 400 * NS_S, source_revision=1000 + i,
                      worker="central-worker-1")
        if not busy:
            # as the engine makes it: no figure, so suppressed
            w = WindowSummary(count=0, suppressed=True, figures=None, **common)  # type: ignore[arg-type]
        else:
            samples = [round(rng.gauss(120, 15), 3) for _ in range(busy)]
            q = statistics.quantiles(samples, n=20)
            median = statistics.median(samples)
            w = WindowSummary(
                count=busy, suppressed=False, devices=busy, samples_s=tuple(samples),
                figures=Figures(median, q[1], q[4], q[14], q[17],
                                statistics.median(abs(x - median) for x in samples)),
                rejections={"outlier": 1}, unmatched=busy // 2, by_class={"unknown": busy},
                by_address_kind={"wifi_global": busy - busy // 3, "ble_public": busy // 3},
                **common)  # type: ignore[arg-type]
        out.append((target, w))
    return out


def write_window_keys(client: object, items: list[tuple[Target, WindowSummary]]) -> None:
    """The earlier layout: one JSON key per window, 100 puts a transaction."""
    writes = [(t.window_key(NS, w.window_start_ns // NS_S), w.to_json(), 0) for t, w in items]
    etcd_txn.commit(client, [etcd_txn.txn_request(writes[i:i + 100])  # type: ignore[arg-type]
                             for i in range(0, len(writes), 100)])


def measure_windows(layout: str, links: int, days: int, samples: int) -> dict[str, float]:
    """Bytes per link-day of a busy and an idle link's windows in one layout."""
    rng = random.Random(7)
    first_day = int(time.time()) // 86_400 - days
    out = {}
    for busy in (samples, 0):
        with tempfile.TemporaryDirectory(prefix="bench-capacity-windows-") as tmp, \
                EtcdProcess(Path(tmp) / "etcd", quota_bytes=8 * GIB) as etcd:
            client = connect([etcd.endpoint], timeout=600)
            client.defragment()
            before = client.status().db_size
            for n in range(links):
                target = Target((LinkRecord(f"d{n:04d}", f"d{n + 1:04d}", 900),))
                for day in range(first_day, first_day + days):
                    items = day_of_windows(target, day, busy, rng)
                    if layout == "per-window":
                        write_window_keys(client, items)
                    else:
                        tt_store.write_windows(client, NS, items)
                print(f"  {layout} {'busy' if busy else 'idle'}: link {n + 1}/{links}",
                      file=sys.stderr, end="\r", flush=True)
            prefix = keys.windows_prefix(NS)
            resp = client.get_prefix_response(prefix)
            stored = sum(len(kv.key) + len(kv.value) for kv in resp.kvs)
            client.compact(int(resp.header.revision), physical=True)
            client.defragment()
            kind = "busy" if busy else "idle"
            out[f"{kind}_db"] = (client.status().db_size - before) / (links * days)
            out[f"{kind}_kv"] = stored / (links * days)
            out[f"{kind}_keys"] = len(resp.kvs) / (links * days)
            client.close()
    print(file=sys.stderr)
    return out


def windows_section(links: int, days: int, samples: int) -> None:
    print(f"windows: {links} busy ({samples} kept samples a window) and {links} idle links x "
          f"{days} days of 5-min windows, bytes per link-day in etcd (database after "
          "compaction and defrag; keys+values)")
    results = {layout: measure_windows(layout, links, days, samples)
               for layout in ("per-window", "hour blocks")}
    for layout, r in results.items():
        print(f"{layout:>12}: busy {r['busy_db']:>9,.0f} B ({r['busy_kv']:>9,.0f} kv, "
              f"{r['busy_keys']:.0f} keys)  idle {r['idle_db']:>9,.0f} B "
              f"({r['idle_kv']:>7,.0f} kv, {r['idle_keys']:.0f} keys) a link-day")
    old, new = results["per-window"], results["hour blocks"]
    print(f"ratios hour blocks/per-window: busy {new['busy_db'] / old['busy_db']:.3f}, "
          f"idle {new['idle_db'] / old['idle_db']:.3f}")
    for layout, r in results.items():
        per_gib = GIB / r["busy_db"], GIB / r["idle_db"]
        need = 5000 * 365 * r["busy_db"] / GIB
        print(f"{layout:>12}: 1 GiB holds {per_gib[0]:>9,.0f} busy or {per_gib[1]:>11,.0f} "
              f"idle link-days; 5,000 busy links x 365 days: {need:,.1f} GiB "
              f"(target <= 2 GiB: {'meets' if need <= 2 else 'MISSES'}); "
              f"in 2 GiB, 5,000 busy links keep {2 * per_gib[0] / 5000:,.1f} days")
    archived = archive_bytes_per_link_day(links, days, samples)
    hot = HOT_DAYS
    in_etcd = 5000 * hot * new["busy_db"] / GIB
    in_archive = 5000 * (365 - hot) * archived / GIB
    print(f"archive (Parquet, zstd): a busy link-day {archived:,.0f} B. 5,000 busy links x 365 "
          f"days with windows_hot_days {hot}: etcd {in_etcd:.2f} GiB (target <= 2 GiB: "
          f"{'meets' if in_etcd <= 2 else 'MISSES'}), the archive {in_archive:.1f} GiB")


HOT_DAYS = 3  # the windows_hot_days a site of 5,000 busy links sets (docs/etcd.md)


def archive_bytes_per_link_day(links: int, days: int, samples: int) -> float:
    """Bytes per link-day of busy windows in the archive's daily files."""
    rng = random.Random(7)
    first_day = int(time.time()) // 86_400 - days
    targets = [Target((LinkRecord(f"d{n:04d}", f"d{n + 1:04d}", 900),)) for n in range(links)]
    with tempfile.TemporaryDirectory(prefix="bench-capacity-archive-") as tmp:
        total = 0
        for day in range(first_day, first_day + days):
            rows = [(t.path, w) for t in targets for _t, w in day_of_windows(t, day, samples, rng)]
            entry = windows_archive.write_day(Path(tmp), archive.day_of(day * 86_400 * NS_S),
                                              rows, time.time_ns())
            total += entry.bytes
    return total / (links * days)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", type=int, default=50)
    parser.add_argument("--per-day", type=int, default=40_000, help="passes per detector a day")
    parser.add_argument("--hours", type=float, default=4.8, help="of the day, stored")
    parser.add_argument("--layouts", default="per-pass,packed",
                        help="which to measure (per-pass at a day of 50 detectors takes minutes)")
    parser.add_argument("--linger", type=float, default=15.0,
                        help="a batch every N s (default 15: the agent's batch_linger_s)")
    parser.add_argument("--window-links", type=int, default=10,
                        help="busy and idle links of the windows section (0: skip it)")
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--window-samples", type=int, default=15,
                        help="kept samples a busy window holds (default 15: about the "
                        "README's busy link, 170 kB a day as per-window JSON)")
    args = parser.parse_args()
    if args.linger <= 0:
        parser.error("--linger: must be above 0")
    if args.window_links:
        windows_section(args.window_links, args.window_days, args.window_samples)
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
