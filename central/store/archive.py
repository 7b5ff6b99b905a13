"""The archive: closed days of passes as Parquet files, for retention beyond etcd's.

    DIR/day=YYYY-MM-DD/detector=ID/passes.parquet   one detector's passes of one UTC day
    DIR/windows/day=YYYY-MM-DD/windows.parquet      the travel-time windows of a day
                                                    (central/traveltime/archive.py)
    DIR/_manifest.json                              every file: rows, bytes, SHA-256, times

Hive-style partitions, so DuckDB (`read_parquet('DIR/day=*/*/passes.parquet',
hive_partitioning = true)`), pandas or pyarrow.dataset read the files as they are. A file
is written beside its place and renamed into it, then the manifest is rewritten the same
way: a crash leaves the previous state, never half a file. Central reads archived ranges
through the same events queries (EventReader with `archive_dir`); `verify` finds a
damaged or missing file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from roadside.central.errors import CentralError
from roadside.central.store import keys, packed
from roadside.central.store.records import StoredPass
from roadside.common.files import private_dir, private_file, write_atomic

MANIFEST = "_manifest.json"  # "_": dataset readers skip it
VERSION = 1
DAY_NS = 86_400 * keys.NS_PER_S
FIELDS = ("detector_id", "ulid", "device_id", "timestamp_ns", "first_ns", "last_ns", "peak_ns",
          "peak_rssi", "count", "radio", "address_kind", "tagged", "alias")


class ArchiveError(CentralError):
    """The archive directory or one of its files cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Entry:
    day: str  # YYYY-MM-DD (UTC)
    detector_id: str
    path: str  # relative to the archive directory
    rows: int
    bytes: int
    sha256: str
    first_ns: int
    last_ns: int
    exported_ns: int
    kind: str = "passes"  # or "windows" (no detector_id)


def day_span(day: str) -> tuple[int, int]:
    """[start, end) of a UTC day in unix ns; ArchiveError naming a bad date."""
    try:
        start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ArchiveError(f"day: expected YYYY-MM-DD, got {day!r}") from exc
    start_ns = int(start.timestamp()) * keys.NS_PER_S
    return start_ns, start_ns + DAY_NS


def day_of(t_ns: int) -> str:
    return dt.datetime.fromtimestamp(t_ns // keys.NS_PER_S, dt.UTC).strftime("%Y-%m-%d")


# manifest path -> (its inode, mtime and size when read, its entries): a query reads the
# manifest once per detector it scans; it is parsed again only once it was replaced
_read: dict[Path, tuple[tuple[int, int, int], tuple[Entry, ...]]] = {}


def entries(directory: Path) -> list[Entry]:
    path = directory / MANIFEST
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ArchiveError(f"{path}: not a readable manifest ({exc})") from exc
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _read.get(path)
    if cached is not None and cached[0] == stamp:
        return list(cached[1])
    try:
        data = json.loads(path.read_text())
        found = tuple(Entry(**e) for e in data["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{path}: not a readable manifest ({exc})") from exc
    _read[path] = (stamp, found)
    return list(found)


def pyarrow_modules() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - a dependency of roadside[central]
        raise ArchiveError("the archive needs pyarrow (pip install 'roadside[central]')") from exc
    return pa, pq


def write_day(directory: Path, day: str, detector_id: str, passes: list[StoredPass],
              now_ns: int) -> Entry:
    """One detector's passes of one day as its Parquet file (replacing an earlier one)."""
    pa, _pq = pyarrow_modules()
    rel = Path(f"day={day}") / f"detector={detector_id}" / "passes.parquet"
    columns = {name: [getattr(p, name) for p in passes] for name in FIELDS}
    times = [p.timestamp_ns for p in passes]
    return write_file(directory, rel, pa.table(columns, schema=_schema(pa)), day, detector_id,
                      min(times), max(times), now_ns)


def write_file(directory: Path, rel: Path, table: Any, day: str, detector_id: str,
               first_ns: int, last_ns: int, now_ns: int, kind: str = "passes",
               row_group_size: int | None = None) -> Entry:
    """`table` as the Parquet file `rel` (zstd; its directories 0700, itself 0600: device
    ids), written beside its place and renamed into it; its manifest entry."""
    _pa, pq = pyarrow_modules()
    target = directory / rel
    try:
        for d in (directory, *(directory / p for p in reversed(rel.parents[:-1]))):
            private_dir(d)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        private_file(tmp)
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)
        os.replace(tmp, target)
    except OSError as exc:
        raise ArchiveError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    return file_entry(directory, rel, day, detector_id, table.num_rows, first_ns, last_ns,
                      now_ns, kind)


def file_entry(directory: Path, rel: Path, day: str, detector_id: str, rows: int,
               first_ns: int, last_ns: int, now_ns: int, kind: str = "passes") -> Entry:
    """The manifest entry of a file just written."""
    try:
        data = (directory / rel).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"{directory / rel}: cannot read: {exc.strerror or exc}") from exc
    return Entry(day, detector_id, str(rel), rows, len(data), hashlib.sha256(data).hexdigest(),
                 first_ns, last_ns, now_ns, kind)


def _schema(pa: Any) -> Any:
    return pa.schema([
        ("detector_id", pa.string()), ("ulid", pa.string()), ("device_id", pa.string()),
        ("timestamp_ns", pa.int64()), ("first_ns", pa.int64()), ("last_ns", pa.int64()),
        ("peak_ns", pa.int64()), ("peak_rssi", pa.int16()), ("count", pa.int32()),
        ("radio", pa.dictionary(pa.int8(), pa.string())),
        ("address_kind", pa.dictionary(pa.int8(), pa.string())),
        ("tagged", pa.bool_()), ("alias", pa.bool_()),
    ])


def record(directory: Path, new: Iterable[Entry]) -> None:
    """Put entries into the manifest (replacing those of the same file)."""
    by_file = {e.path: e for e in entries(directory)}
    by_file.update({e.path: e for e in new})
    files = [asdict(by_file[k]) for k in sorted(by_file)]
    try:
        write_atomic(directory / MANIFEST,
                     json.dumps({"version": VERSION, "files": files}, indent=1).encode(), 0o600)
    except OSError as exc:
        raise ArchiveError(f"{directory / MANIFEST}: cannot write: {exc}") from exc


def read_file(directory: Path, entry: Entry) -> list[StoredPass]:
    _pa, pq = pyarrow_modules()
    try:
        table = pq.read_table(directory / entry.path)
    except (OSError, ValueError) as exc:  # pyarrow's errors are both
        raise ArchiveError(f"{directory / entry.path}: unreadable ({exc})") from exc
    rows = table.to_pydict()
    return [StoredPass(**{name: rows[name][i] for name in FIELDS})
            for i in range(table.num_rows)]


def verify(directory: Path) -> list[tuple[Entry, str]]:
    """(entry, problem) of every file that is missing, changed or unreadable."""
    problems = []
    for entry in entries(directory):
        path = directory / entry.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append((entry, f"cannot read: {exc.strerror or exc}"))
            continue
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            problems.append((entry, "its SHA-256 is not the manifest's: the file changed"))
            continue
        try:
            rows = _rows(directory, entry)
        except ArchiveError as exc:
            problems.append((entry, str(exc)))
            continue
        if rows != entry.rows:
            problems.append((entry, f"{rows} rows, the manifest says {entry.rows}"))
    return problems


def _rows(directory: Path, entry: Entry) -> int:
    _pa, pq = pyarrow_modules()
    try:
        return int(pq.read_table(directory / entry.path).num_rows)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{directory / entry.path}: unreadable ({exc})") from exc


def passes_entries(directory: Path) -> list[Entry]:
    return [e for e in entries(directory) if e.kind == "passes"]


def detectors_in(directory: Path, since_ns: int, until_ns: int) -> set[str]:
    return {e.detector_id for e in _overlapping(directory, None, since_ns, until_ns)}


def _overlapping(directory: Path, detector_id: str | None, since_ns: int,
                 until_ns: int) -> list[Entry]:
    return [e for e in passes_entries(directory)
            if (detector_id is None or e.detector_id == detector_id)
            and (not until_ns or e.first_ns < until_ns) and e.last_ns >= since_ns]


def scan(directory: Path, ns: str, detector_id: str, since_ns: int, until_ns: int,
         ) -> Iterator[tuple[str, StoredPass]]:
    """(pass key, pass) of a detector's archived passes in [since, until), in (time, key)
    order (until 0: no bound), one file in memory at a time."""
    for entry in sorted(_overlapping(directory, detector_id, since_ns, until_ns),
                        key=lambda e: e.day):
        items = [(packed.pass_key(ns, p), p) for p in read_file(directory, entry)
                 if p.timestamp_ns >= since_ns and (not until_ns or p.timestamp_ns < until_ns)]
        items.sort(key=lambda kv: (kv[1].timestamp_ns, kv[0]))
        yield from items
