"""Exporting closed days to the archive: the CLI's `roadside archive export` and, when
central has an `archive_dir`, its Archiver thread (one central at a time, under an etcd
lock), which exports every closed day soon after midnight UTC, long before it expires."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from roadside.central.store import archive, keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.store.rounds import Rounds

log = logging.getLogger(__name__)

INTERVAL_S = 3600.0  # the Archiver looks for closed days this often
LOCK_TTL_S = 600  # the Archiver's etcd lock lives this long without its holder

Report = Callable[[str, list[archive.Entry]], None]  # (day, its files), after each day


def export_days(reader: EventReader, directory: Path, days: list[str],
                report: Report | None = None) -> int:
    """Write each day's files and record them; ArchiveError for a day not closed."""
    spans = [(day, archive.day_span(day)) for day in days]  # every date checked first
    today = archive.day_of(time.time_ns())
    for day, _span in spans:
        if day >= today:
            raise archive.ArchiveError(f"day {day}: not closed yet (UTC today is {today})")
    passes_written = 0
    detectors = sorted(reader.stored_detectors()) if spans else []
    for day, (since, until) in spans:
        written = []
        for detector_id in detectors:
            passes = list(reader.iter_events(EventQuery((detector_id,), since, until)))
            if passes:
                written.append(archive.write_day(directory, day, detector_id, passes,
                                                 time.time_ns()))
        archive.record(directory, written)
        passes_written += sum(e.rows for e in written)
        if report is not None:
            report(day, written)
    return passes_written


def closed_days(reader: EventReader, directory: Path) -> list[str]:
    """Closed days from the oldest stored pass to yesterday that the archive lacks."""
    oldest = next(iter(reader.iter_events(EventQuery(), chunk=16)), None)
    if oldest is None:
        return []
    done = {e.day for e in archive.passes_entries(directory)}
    today = archive.day_of(time.time_ns())
    day, out = archive.day_of(oldest.timestamp_ns), []
    while day < today:
        if day not in done:
            out.append(day)
        day = archive.day_of(archive.day_span(day)[1])
    return out


class Archiver(Rounds):
    """Exports closed days every INTERVAL_S (first at start) while central runs."""

    def __init__(self, store: EtcdStore, directory: Path, interval_s: float = INTERVAL_S,
                 ) -> None:
        super().__init__(store, "archiver", keys.archive_lock(store.namespace), LOCK_TTL_S,
                         interval_s)
        self._reader = EventReader(store)
        self._directory = directory

    def work(self) -> int:
        days = closed_days(self._reader, self._directory)
        return export_days(self._reader, self._directory, days, _log_day)

    def run_once(self) -> int:
        """Export what is closed and missing, if no other central is at it: passes written."""
        done = self.locked_round(lambda: 0)
        assert isinstance(done, int)
        return done


def _log_day(day: str, written: list[archive.Entry]) -> None:
    log.info("archived %s: %d detectors, %d passes", day, len(written),
             sum(e.rows for e in written))
