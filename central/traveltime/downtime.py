"""Detector downtime over a period: the hours in which a detector heard nobody at all.

An hour without a single pass at a detector on a road with traffic means the box was down
(or cut off and its buffer lost); coverage reports it beside the windows. Passes come from
the archive's files, read in SQL where they lie (one detector-day a file), and from etcd
for the days not archived; only the hours are kept, never a device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from roadside.central.store import archive
from roadside.central.store.event_reads import EventQuery, EventReader

HOUR_NS = 3600 * 1_000_000_000


def downtime(reader: EventReader, directory: Path | None, detectors: Sequence[str],
             since_ns: int, until_ns: int) -> dict[str, int]:
    """detector -> hours of [since, until) without any pass there."""
    hours = -(-(until_ns - since_ns) // HOUR_NS)
    heard: dict[str, set[int]] = {d: set() for d in detectors}
    archived: dict[str, set[str]] = {d: set() for d in detectors}
    if directory is not None:
        files = [e for e in archive.passes_entries(directory)
                 if e.detector_id in heard and e.last_ns >= since_ns and e.first_ns < until_ns]
        for e in files:
            archived[e.detector_id].add(e.day)
        if files:
            for detector_id, hour in _hours_of_files(directory, [e.path for e in files],
                                                     since_ns, until_ns):
                heard[detector_id].add(hour)
    for detector_id in detectors:  # etcd, for the days the archive does not hold
        for p in reader.iter_events(EventQuery((detector_id,), since_ns, until_ns)):
            if archive.day_of(p.timestamp_ns) not in archived[detector_id]:
                heard[detector_id].add(p.timestamp_ns // HOUR_NS)
    return {d: hours - len(h) for d, h in heard.items()}


def _hours_of_files(directory: Path, paths: list[str], since_ns: int,
                    until_ns: int) -> list[tuple[str, int]]:
    """(detector, hour number) of every hour with a pass in the archive's files."""
    import duckdb  # reports only

    con = duckdb.connect()
    try:
        return [(str(d), int(h)) for d, h in con.execute(
            "SELECT DISTINCT detector_id, timestamp_ns // 3600000000000 FROM read_parquet($f) "
            "WHERE timestamp_ns >= $since AND timestamp_ns < $until",
            {"f": [str(directory / p) for p in paths], "since": since_ns,
             "until": until_ns}).fetchall()]
    finally:
        con.close()


def add_to(rows: list[dict[str, Any]], down: dict[str, int]) -> None:
    """A coverage report's rows with each detector's downtime and the worst of them."""
    for row in rows:
        row["downtime_hours"] = down
        row["detector_downtime"] = max(down.values(), default=0)
