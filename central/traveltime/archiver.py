"""Moving travel-time windows out of etcd: windows of days older than `windows_hot_days`
go to the archive (central/traveltime/archive.py), then leave etcd; and a daily snapshot of
the normal profiles goes beside them.

A round: every day before the hot period that still has windows in etcd is merged into its
archive file (etcd's window wins over an archived one of the same start: it is newer),
the manifest updated, the etcd record moved on (readers now read those days from the
archive), and only then the day's keys deleted, each only if unchanged since it was read
(a worker writing into an old day meanwhile keeps its window for the next round)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roadside.central.store import archive, keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.rounds import Rounds
from roadside.central.traveltime import archive as windows_archive
from roadside.central.traveltime import profiles, store
from roadside.central.traveltime.config import ROUTE_MAX_SECONDS
from roadside.central.traveltime.model import Target, WindowSummary

log = logging.getLogger(__name__)

DAY_S = 86_400
LOCK_TTL_S = 600
Report = Callable[[str, int], None]  # (day, windows archived), after each day

Key = tuple[bytes, int]  # an etcd key and the mod revision it was read at


def move_windows(client: Any, ns: str, directory: Path, hot_days: float, now_ns: int,
                 report: Report | None = None) -> int:
    """Archive and drop from etcd the windows of days before the hot period: how many."""
    directory = directory.resolve()  # every reader finds it, whatever its working dir
    place = windows_archive.where(client, ns)
    if place is not None and place.directory != directory:
        raise archive.ArchiveError(f"this site's windows are archived in {place.directory}, "
                                   f"not {directory}: one archive holds them all")
    cutoff_s = (now_ns // keys.NS_PER_S - int(hot_days * DAY_S)) // DAY_S * DAY_S
    by_day = _etcd_windows(client, ns, cutoff_s)
    moved = 0
    for day_s in sorted(by_day):
        windows, read = by_day[day_s]
        day = archive.day_of(day_s * keys.NS_PER_S)
        merged = {(path, w.window_start_ns): (path, w) for path, w in _archived(directory, day)}
        merged.update(((path, w.window_start_ns), (path, w)) for path, w in windows)
        entry = windows_archive.write_day(directory, day, list(merged.values()),
                                          time.time_ns())
        archive.record(directory, [entry])
        moved += len(windows)
        if report is not None:
            report(day, len(windows))
    etcd_from = max(cutoff_s * keys.NS_PER_S, place.etcd_from_ns if place else 0)
    windows_archive.record_where(client, ns, windows_archive.Where(directory, etcd_from))
    for _windows, read in by_day.values():
        _delete_unchanged(client, read)
    return moved


def archive_normals(client: Any, ns: str, directory: Path, targets: list[Target],
                    now_ns: int) -> int:
    """Today's snapshot of the normal profiles, once a day: how many profiles (0: there is
    one already, or no profile yet)."""
    day = archive.day_of(now_ns)
    if any(e.kind == windows_archive.NORMALS and e.day == day
           for e in archive.entries(directory)):
        return 0
    known = profiles.read_all(client, ns)  # one range read, not a read per target
    normals = [(t.path, known[t.path]) for t in targets if t.path in known]
    if normals:
        archive.record(directory, [windows_archive.write_normals(directory, day, normals,
                                                                 time.time_ns())])
    return len(normals)


def _archived(directory: Path, day: str) -> list[tuple[str, WindowSummary]]:
    for entry in archive.entries(directory):
        if entry.kind == windows_archive.KIND and entry.day == day:
            return windows_archive.read_day(directory, entry)
    return []


def _etcd_windows(client: Any, ns: str, before_s: int
                  ) -> dict[int, tuple[list[tuple[str, WindowSummary]], list[Key]]]:
    """day (unix s) -> ((target path, window) of etcd's windows that day, their keys) for
    the days before `before_s`: the keys listed first, the old ones' values read after."""
    prefix = keys.windows_prefix(ns)
    old: set[str] = set()  # target paths with windows before `before_s`
    for key, _v, _rev in store.range_pages(client, prefix, keys.prefix_end(prefix),
                                           keys_only=True):
        path, _, tail = key.decode()[len(prefix):].rpartition("/")
        if tail.removeprefix("h").isdigit() and int(tail.removeprefix("h")) < before_s:
            old.add(path)
    out: dict[int, tuple[list[tuple[str, WindowSummary]], list[Key]]] = {}
    for path in sorted(old):
        at = f"{prefix}{path}/"
        ranges = ((at, at + "h"),  # the earlier layout's per-window keys: digits
                  (keys.window_hour_key(at, 0), keys.window_hour_key(at, before_s)))
        for start, end in ranges:
            for key, value, rev in store.range_pages(client, start, end):
                tail = key.decode().rpartition("/")[2].removeprefix("h")
                found = store.windows_at(key, value) if tail.isdigit() else []
                if not found or int(tail) >= before_s:
                    continue  # not windows, unreadable (left in place), or not yet old
                windows, read = out.setdefault(int(tail) // DAY_S * DAY_S, ([], []))
                windows += [(path, w) for w in found]
                read.append((key, rev))
    return out


def _delete_unchanged(client: Any, read: list[Key]) -> None:
    tx = client.transactions
    for key, rev in read:
        client.transaction(compare=[tx.mod(key) == rev], success=[tx.delete(key)], failure=[])


class WindowArchiver(Rounds):
    """Moves the windows of days older than `hot_days` to the archive every `every_s`."""

    def __init__(self, central: EtcdStore, directory: Path, hot_days: float,
                 every_s: float) -> None:
        super().__init__(central, "window-archiver", keys.window_archive_lock(central.namespace),
                         LOCK_TTL_S, every_s)
        self._directory = directory
        self._hot_days = hot_days

    def work(self) -> int:
        client, ns = self._store.client, self._store.namespace
        moved = move_windows(client, ns, self._directory, self._hot_days, time.time_ns(),
                             _log_day)
        targets = store.all_targets(client, ns, ROUTE_MAX_SECONDS)
        if archive_normals(client, ns, self._directory, targets, time.time_ns()):
            log.info("archived today's normal profiles")
        return moved


def _log_day(day: str, count: int) -> None:
    log.info("archived %s: %d travel-time windows moved out of etcd", day, count)
