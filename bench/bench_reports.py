"""Report timing: a year of one busy link's windows, reliability by day, beside DuckDB
scanning the same archive files in the same run.

    python bench/bench_reports.py [--days 365] [--links 10] [--hot-days 7] [--rounds 3]

Writes `days` days of 5-min windows of `links` links (15 kept samples a window, rush hours
slower) into an archive directory (one Parquet file a day, as the window archiver writes
it), the newest `hot-days` of the busy link into its own etcd instead, and records the
archive in etcd. Then, each the median of `rounds`:
  baseline  DuckDB's read_parquet over the archive files: the same SQL, the busy link only
  report    what `roadside report reliability --by day` does: the archive's files read in
            Arrow, etcd's hot days, then the SQL on DuckDB
  command   the command itself, as an analyst types it (a new process: imports included)
Target: report <= 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from roadside.central.store import archive
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import archive as windows_archive
from roadside.central.traveltime import reports, store
from roadside.central.traveltime.model import Figures, Target, WindowSummary

NS, S, DAY, W = "bench", 1_000_000_000, 86_400, 300
TARGET_S = 2.0
ROOT = Path(__file__).resolve().parent.parent


def day_of_windows(target: Target, day_s: int, rng: random.Random) -> list[WindowSummary]:
    out = []
    for i in range(DAY // W):
        hour = i * W // 3600
        base = 120.0 * (1.6 if hour in (7, 8, 16, 17) else 1.0)
        samples = sorted(round(rng.gauss(base, 12), 3) for _ in range(15))
        m = statistics.median(samples)
        out.append(WindowSummary(
            target.src, target.dest, "", (day_s + i * W) * S, (day_s + i * W + W) * S, 15,
            False, Figures(m, samples[1], samples[3], samples[11], samples[13], 6.0),
            samples_s=tuple(samples), devices=15, computed_ns=(day_s + i * W + 400) * S,
            source_revision=1, worker="bench"))
    return out


def timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--links", type=int, default=10, help="in the archive's daily files")
    parser.add_argument("--hot-days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(3)
    links = [Target((LinkRecord(f"d{n:03d}", f"d{n + 1:03d}", 900),)) for n in range(args.links)]
    busy = links[0]
    today = int(time.time()) // DAY * DAY
    first = today - args.days * DAY
    hot_from = today - args.hot_days * DAY
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        directory = Path(tmp) / "archive"
        entries = []
        for n, day_s in enumerate(range(first, hot_from, DAY)):
            rows = [(t.path, w) for t in links for w in day_of_windows(t, day_s, rng)]
            entries.append(windows_archive.write_day(directory, archive.day_of(day_s * S), rows,
                                                     time.time_ns()))
            print(f"  archived {n + 1}/{(hot_from - first) // DAY} days", file=sys.stderr,
                  end="\r", flush=True)
        archive.record(directory, entries)
        print(file=sys.stderr)
        with EtcdProcess(Path(tmp) / "etcd") as etcd:
            client = connect([etcd.endpoint])
            EtcdStore(client, NS).set_links(busy.dest, list(busy.hops))
            for day_s in range(hot_from, today, DAY):
                store.write_windows(client, NS, [(busy, w)
                                                 for w in day_of_windows(busy, day_s, rng)])
            windows_archive.record_where(client, NS, windows_archive.Where(
                directory.resolve(), hot_from * S))
            since, until = first * S, today * S
            files = [str(directory / e.path) for e in entries]
            group = reports.GROUPS["day"]
            sql = reports.RELIABILITY.format(group=group, ffp=reports.FREE_FLOW_PERCENTILE)
            baseline_sql = sql.replace(
                "FROM w WHERE", "FROM read_parquet($files) WHERE target = $target AND")

            def baseline() -> None:
                con = duckdb.connect()
                con.execute(baseline_sql, {"files": files, "target": busy.path,
                                           "free_flow": None, "tz": "UTC"}).fetchall()
                con.close()

            def report() -> None:
                table = reports.history(client, NS, busy, since, until)
                rows = reports.reliability(table, "day", "UTC")
                assert len(rows) == args.days, len(rows)

            command = [sys.executable, "-m", "roadside.common.main", "report", "reliability",
                       "--link", busy.src, busy.dest, "--by", "day", "--since",
                       f"-{args.days}d", "--format", "csv", "--etcd-endpoints", etcd.endpoint,
                       "--namespace", NS, "--pki-dir", str(Path(tmp) / "none")]

            def typed() -> None:
                subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

            times: dict[str, list[float]] = {"baseline": [], "report": [], "command": []}
            for n in range(args.rounds):
                for name, fn in (("baseline", baseline), ("report", report),
                                 ("command", typed)):
                    times[name].append(timed(fn))
                print(f"  round {n + 1}/{args.rounds}", file=sys.stderr, flush=True)
            client.close()
    t = {name: statistics.median(v) for name, v in times.items()}
    windows = args.days * DAY // W
    print(f"{args.days} days of one busy link, {windows:,} windows "
          f"({args.days - args.hot_days} days archived among {args.links} links, "
          f"{args.hot_days} in etcd); median of {args.rounds}")
    print(f"  baseline: DuckDB over the archive files {t['baseline']:6.2f} s")
    print(f"  report (history + SQL)                {t['report']:6.2f} s  "
          f"{t['report'] / t['baseline']:.1f}x the baseline")
    print(f"  the command, typed                     {t['command']:6.2f} s")
    print(f"target report <= {TARGET_S:g} s: "
          f"{'meets' if t['report'] <= TARGET_S else 'MISSES'} ({t['report']:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
