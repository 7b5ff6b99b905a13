"""`roadside archive export|windows|list|verify`: closed days of passes and old
travel-time windows to Parquet, and back.

Run where central's etcd is reachable (its settings: --config, ROADSIDE_*, flags, as
`roadside pki`); the directory is --dir, else central's `archive_dir`. A daily timer
(`roadside archive export --closed`) keeps every closed day archived before it expires.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roadside.central.cli.pki import control_action, control_config, control_store
from roadside.central.config import CentralConfig
from roadside.central.store import archive, archive_export
from roadside.central.store.event_reads import EventReader
from roadside.central.traveltime import store as windows_store
from roadside.central.traveltime.archiver import archive_normals, move_windows
from roadside.central.traveltime.config import ROUTE_MAX_SECONDS
from roadside.common.output import Column, write_rows


def add_parser(inner: Any) -> None:
    a = _action(inner, "export", "write closed UTC days to the archive (Parquet per day and "
                "detector)",
                "roadside archive export --closed --dir archive",
                "roadside archive export --closed --dir /srv/roadside-archive")
    days = a.add_mutually_exclusive_group(required=True)
    days.add_argument("--day", action="append", metavar="YYYY-MM-DD",
                      help="this UTC day (repeatable)")
    days.add_argument("--closed", action="store_true",
                      help="every closed day etcd still holds that the archive has not")
    a.set_defaults(func=_export)
    a = _action(inner, "windows", "move windows older than windows_hot_days to the archive",
                "roadside archive windows --dir archive",
                "roadside archive windows --dir /srv/roadside-archive --hot-days 3")
    a.add_argument("--hot-days", type=float, metavar="DAYS",
                   help="keep this many days in etcd (default: central's windows_hot_days)")
    a.set_defaults(func=_windows)
    a = _action(inner, "list", "the archived files: kind, day, detector, rows, bytes",
                "roadside archive list --dir archive",
                "roadside archive list --dir /srv/roadside-archive")
    a.add_argument("--format", choices=("table", "csv", "json"), default="table")
    a.set_defaults(func=_list)
    a = _action(inner, "verify", "check the files against the manifest; exit 1 naming each "
                "damaged one",
                "roadside archive verify --dir archive",
                "roadside archive verify --dir /srv/roadside-archive")
    a.set_defaults(func=_verify)


def _action(inner: Any, name: str, text: str, example: str, production: str,
            ) -> argparse.ArgumentParser:
    a = control_action(inner, name, text, example, production)
    a.add_argument("--dir", type=Path, metavar="DIR",
                   help="the archive directory (default: central's archive_dir)")
    return a


def _directory(args: argparse.Namespace, config: CentralConfig) -> Path:
    directory = args.dir or config.archive_dir
    if directory is None:
        raise archive.ArchiveError("no archive directory: give --dir or set archive_dir")
    return Path(directory)


def _export(args: argparse.Namespace) -> int:
    config = control_config(args)
    directory = _directory(args, config)
    with control_store(config) as store:
        reader = EventReader(store)
        days = args.day or archive_export.closed_days(reader, directory)
        archive_export.export_days(reader, directory, days, _print_day(directory))
    if not days:
        print(f"nothing to export: every closed day etcd holds is in {directory}",
              file=sys.stderr)
    return 0


def _print_day(directory: Path) -> archive_export.Report:
    def report(day: str, written: list[archive.Entry]) -> None:
        print(f"{day}: {len(written)} detectors, {sum(e.rows for e in written)} passes, "
              f"{sum(e.bytes for e in written)} bytes -> {directory}", flush=True)

    return report


def _windows(args: argparse.Namespace) -> int:
    config = control_config(args)
    directory = _directory(args, config)
    hot_days = config.windows_hot_days if args.hot_days is None else args.hot_days
    if hot_days <= 0:
        raise archive.ArchiveError("--hot-days: must be above 0 (windows_hot_days 0 keeps "
                                   "every window in etcd)")
    with control_store(config) as store:
        moved = move_windows(store.client, store.namespace, directory, hot_days,
                             time.time_ns(), _print_windows(directory))
        targets = windows_store.all_targets(store.client, store.namespace,
                                            ROUTE_MAX_SECONDS)
        if archive_normals(store.client, store.namespace, directory, targets, time.time_ns()):
            print(f"today's normal profiles -> {directory}")
    if not moved:
        print(f"nothing to move: etcd holds no windows older than {hot_days:g} days",
              file=sys.stderr)
    return 0


def _print_windows(directory: Path) -> Callable[[str, int], None]:
    def report(day: str, count: int) -> None:
        print(f"{day}: {count} windows -> {directory}", flush=True)

    return report


COLUMNS = [Column("kind", "KIND"), Column("day", "DAY"), Column("detector_id", "DETECTOR"),
           Column("rows", "ROWS", right=True), Column("bytes", "BYTES", right=True),
           Column("path", "FILE"), Column("sha256", "SHA-256", table=False)]


def _list(args: argparse.Namespace) -> int:
    directory = _directory(args, control_config(args))
    rows = [{"kind": e.kind, "day": e.day, "detector_id": e.detector_id, "rows": e.rows,
             "bytes": e.bytes, "path": e.path, "sha256": e.sha256}
            for e in archive.entries(directory)]
    write_rows(COLUMNS, args.format, rows)
    if not rows:
        print(f"nothing archived in {directory} yet (roadside archive export --closed)",
              file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    directory = _directory(args, control_config(args))
    found = archive.entries(directory)
    problems = archive.verify(directory)
    for entry, problem in problems:
        print(f"{directory / entry.path}: {problem}")
    print(f"{len(found) - len(problems)} of {len(found)} files intact", file=sys.stderr)
    return 1 if problems else 0
