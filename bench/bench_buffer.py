"""DiskBuffer: durable passes per second with group commits, beside one commit per pass.

Both write real serialized passes into a fresh SQLite WAL database with synchronous=FULL
(every commit is fsynced), in the same run on the same disk. Target: >= 30,000 passes/s
with group commits.

    .venv/bin/python bench/bench_buffer.py [--passes N] [--group G] [--dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roadside.agent.buffer import DiskBuffer
from roadside.agent.model import AddressKind, Pass, RadioKind
from roadside.agent.wire import pass_to_row

TARGET_PER_S = 30_000
SINGLE_ROWS = 1_000  # one fsync each: a thousand is plenty to measure


def payloads(n: int) -> list[tuple[int, bytes]]:
    t0 = time.time_ns()
    out = []
    for i in range(n):
        device = f"{i * 2654435761 % 2**128:032x}"
        t = t0 + i * 1_000_000
        p = Pass(device, t, t + 5 * 10**9, t + 2 * 10**9, -61,
                 7, RadioKind.WIFI, AddressKind.WIFI_LOCAL, t + 2 * 10**9, True)
        out.append((p.timestamp_ns, pass_to_row(p)))
    return out


def rate(path: Path, items: list[tuple[int, bytes]], group: int) -> float:
    with DiskBuffer(path, 10**10) as buf:
        start = time.perf_counter()
        for i in range(0, len(items), group):
            buf.append(items[i : i + group])
        elapsed = time.perf_counter() - start
        assert buf.depth() == len(items)
    return len(items) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=200_000, help="passes for group commits")
    parser.add_argument("--group", type=int, default=1_000, help="passes per transaction")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the databases go (default: the temp dir); use the SD card")
    args = parser.parse_args()
    items = payloads(args.passes)
    size = sum(len(p) for _, p in items) / len(items)
    with tempfile.TemporaryDirectory(prefix="bench-buffer-", dir=args.dir) as tmp:
        single = rate(Path(tmp) / "single.db", items[:SINGLE_ROWS], 1)
        grouped = rate(Path(tmp) / "group.db", items, args.group)
    print(f"pass payload: {size:.0f} bytes; SQLite WAL, synchronous=FULL, in {tmp}")
    print(f"baseline  one commit per pass       : {single:>10,.0f} passes/s "
          f"({SINGLE_ROWS:,} passes)")
    print(f"DiskBuffer group commits of {args.group:<6,}: {grouped:>10,.0f} passes/s "
          f"({args.passes:,} passes, {grouped / single:.0f}x the baseline)")
    verdict = "meets" if grouped >= TARGET_PER_S else "MISSES"
    print(f"target >= {TARGET_PER_S:,} passes/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
