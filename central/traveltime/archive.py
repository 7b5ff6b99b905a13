"""Travel-time windows in the archive: a Parquet file per closed UTC day, beside the passes.

    DIR/windows/day=YYYY-MM-DD/windows.parquet   every link's and route's windows of the day
    DIR/normals/day=YYYY-MM-DD/normals.parquet   the normal profiles as they were that day
    DIR/_manifest.json                           their entries too (kinds "windows", "normals")

A row is a window (those without data too: coverage is counted from them), sorted by
target ("link/SRC/DEST" or "route/NAME") and start, so a reader of one target skips the
other row groups. The etcd record /{ns}/archive/windows says where the archive is and from
which day etcd still holds windows (`etcd_from_ns`): store.read_windows reads the days
before it from here and etcd over the whole range (etcd's window wins), so a window
computed late into an archived day is still seen until the archiver moves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadside.central.store import archive, keys
from roadside.central.store.archive import ArchiveError, Entry
from roadside.central.traveltime.model import Figures, WindowSummary

WINDOWS_DIR = "windows"
KIND = "windows"
FIGURES = ("median_s", "p10_s", "p25_s", "p75_s", "p90_s", "mad_s")
ROW_GROUP = 16_384  # rows: a target's day is 288 rows, a group spans some dozens of them
NORMALS_DIR = "normals"
NORMALS = "normals"


@dataclass(frozen=True, slots=True)
class Where:
    """The archive record in etcd: the directory, and windows before etcd_from_ns live
    only there."""

    directory: Path
    etcd_from_ns: int


def where(client: Any, ns: str) -> Where | None:
    value, _meta = client.get(keys.archive_windows_key(ns))
    if value is None:
        return None
    data = json.loads(value)
    return Where(Path(data["dir"]), int(data["etcd_from_ns"]))


def record_where(client: Any, ns: str, place: Where) -> None:
    client.put(keys.archive_windows_key(ns), json.dumps(
        {"dir": str(place.directory), "etcd_from_ns": place.etcd_from_ns}))


def schema(pa: Any) -> Any:
    counts = pa.map_(pa.string(), pa.int64())
    return pa.schema([
        ("target", pa.string()), ("src", pa.string()), ("dest", pa.string()),
        ("route", pa.string()), ("window_start_ns", pa.int64()), ("window_end_ns", pa.int64()),
        ("no_data", pa.bool_()), ("suppressed", pa.bool_()), ("count", pa.int64()),
        ("devices", pa.int64()), *((name, pa.float64()) for name in FIGURES),
        ("unmatched", pa.int64()), ("rejections", counts), ("samples_s", pa.list_(pa.float64())),
        ("by_class", counts), ("by_address_kind", counts), ("vehicle_only", pa.bool_()),
        ("clock_corrected", pa.map_(pa.string(), pa.float64())),
        ("clock_excluded", pa.list_(pa.string())), ("computed_ns", pa.int64()),
        ("source_revision", pa.int64()), ("worker", pa.string()),
    ])


def row(path: str, w: WindowSummary) -> dict[str, Any]:
    f = w.figures
    return {
        "target": path, "src": w.src, "dest": w.dest, "route": w.route,
        "window_start_ns": w.window_start_ns, "window_end_ns": w.window_end_ns,
        "no_data": w.nobody, "suppressed": w.suppressed,
        "count": w.count, "devices": w.devices,
        **{name: (getattr(f, name) if f is not None else None) for name in FIGURES},
        "unmatched": w.unmatched, "rejections": list(w.rejections.items()),
        "samples_s": list(w.samples_s), "by_class": list(w.by_class.items()),
        "by_address_kind": list(w.by_address_kind.items()), "vehicle_only": w.vehicle_only,
        "clock_corrected": list(w.clock_corrected.items()),
        "clock_excluded": list(w.clock_excluded), "computed_ns": w.computed_ns,
        "source_revision": w.source_revision, "worker": w.worker,
    }


def _window(r: dict[str, Any]) -> WindowSummary:
    figures = (Figures(*(r[name] for name in FIGURES))
               if r["median_s"] is not None else None)
    return WindowSummary(
        src=r["src"], dest=r["dest"], route=r["route"], window_start_ns=r["window_start_ns"],
        window_end_ns=r["window_end_ns"], count=r["count"], suppressed=r["suppressed"],
        figures=figures, rejections=dict(r["rejections"]), unmatched=r["unmatched"],
        samples_s=tuple(r["samples_s"]), computed_ns=r["computed_ns"],
        source_revision=r["source_revision"], worker=r["worker"], devices=r["devices"],
        by_class=dict(r["by_class"]), by_address_kind=dict(r["by_address_kind"]),
        vehicle_only=r["vehicle_only"], clock_corrected=dict(r["clock_corrected"]),
        clock_excluded=tuple(r["clock_excluded"]))


def write_day(directory: Path, day: str, windows: list[tuple[str, WindowSummary]],
              now_ns: int) -> Entry:
    """The day's windows, (target path, window) each, as its file (replacing one)."""
    pa, _pq = archive.pyarrow_modules()
    rel = Path(WINDOWS_DIR) / f"day={day}" / "windows.parquet"
    ordered = sorted(windows, key=lambda tw: (tw[0], tw[1].window_start_ns))
    table = pa.Table.from_pylist([row(path, w) for path, w in ordered], schema=schema(pa))
    times = [w.window_start_ns for _p, w in ordered] or [archive.day_span(day)[0]]
    return archive.write_file(directory, rel, table, day, "", min(times), max(times), now_ns,
                              KIND, row_group_size=ROW_GROUP)


def write_normals(directory: Path, day: str, normals: list[tuple[str, Any]], now_ns: int
                  ) -> Entry:
    """The normal profiles (target path, profiles.Profile) as of `day`: a row per target,
    weekday (1 = Monday) and 15-minute bin, with the target's free flow."""
    pa, _pq = archive.pyarrow_modules()
    rel = Path(NORMALS_DIR) / f"day={day}" / "normals.parquet"
    rows = [{"target": path, "weekday": i // 96 + 1, "minute": i % 96 * 15, "normal_s": value,
             "free_flow_s": profile.free_flow_s, "weeks": profile.weeks,
             "utc_offset_hours": profile.utc_offset_hours, "computed_ns": profile.computed_ns}
            for path, profile in sorted(normals, key=lambda n: n[0])
            for i, value in enumerate(profile.bins_s)]
    columns = pa.schema([("target", pa.string()), ("weekday", pa.int8()), ("minute", pa.int16()),
                         ("normal_s", pa.float64()), ("free_flow_s", pa.float64()),
                         ("weeks", pa.int32()), ("utc_offset_hours", pa.float64()),
                         ("computed_ns", pa.int64())])
    start = archive.day_span(day)[0]
    return archive.write_file(directory, rel, pa.Table.from_pylist(rows, schema=columns), day,
                              "", start, start, now_ns, NORMALS)


def read_day(directory: Path, entry: Entry) -> list[tuple[str, WindowSummary]]:
    """(target path, window) of every window in a day's file."""
    _pa, pq = archive.pyarrow_modules()
    try:
        table = pq.read_table(directory / entry.path)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{directory / entry.path}: unreadable ({exc})") from exc
    return [(r["target"], _window(r)) for r in table.to_pylist()]


def windows_table(directory: Path, target_path: str, since_ns: int, until_ns: int) -> Any:
    """A target's archived windows starting in [since, until) (until 0: no bound) as one
    Arrow table with the files' columns, read as they lie (filtered in Arrow)."""
    pa, _pq = archive.pyarrow_modules()
    import pyarrow.dataset as ds

    files = [str(directory / e.path) for e in archive.entries(directory)
             if e.kind == KIND and e.last_ns >= since_ns and (not until_ns
                                                              or e.first_ns < until_ns)]
    start = ds.field("window_start_ns")
    wanted = (ds.field("target") == target_path) & (start >= since_ns)
    if until_ns:
        wanted &= start < until_ns
    try:
        return ds.dataset(files, schema=schema(pa), format="parquet").to_table(filter=wanted)
    except (OSError, ValueError) as exc:  # pyarrow's errors are both
        raise ArchiveError(f"{directory}: archived windows unreadable ({exc})") from exc


def windows_of(table: Any) -> list[WindowSummary]:
    """The windows of such a table, in start order."""
    return [_window(r) for r in table.sort_by("window_start_ns").to_pylist()]
