"""Windows older than the hot period move from etcd to the archive: every reader still sees
them (read_windows merges), a window computed late into an archived day is seen and moved
on the next round, and the files are private and read as they are by DuckDB and pyarrow."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from roadside.central.store import archive, keys
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import profiles, store
from roadside.central.traveltime.archiver import archive_normals, move_windows
from roadside.central.traveltime.model import Figures, Target, WindowSummary
from tests.fixtures.traveltime import Road

S = 1_000_000_000
DAY = 86_400
LINK = Target((LinkRecord("a", "b", 600),))
OTHER = Target((LinkRecord("b", "c", 600),))


def window(target: Target, start_s: int, median: float | None) -> WindowSummary:
    figures = None if median is None else Figures(median, median - 5, median - 2,
                                                   median + 2, median + 5, 1.5)
    return WindowSummary(
        src=target.src, dest=target.dest, route=target.route, window_start_ns=start_s * S,
        window_end_ns=(start_s + 300) * S, count=0 if median is None else 6,
        devices=0 if median is None else 6, suppressed=median is None, figures=figures,
        samples_s=() if median is None else (median - 3, median, median + 3),
        computed_ns=start_s * S + 1, source_revision=7, worker="w1")


def read(road: Road, target: Target, since_s: int = 0, until_s: int = 0
         ) -> list[WindowSummary]:
    """The windows readers get (a window without data keeps its block's computed time)."""
    return [dataclasses.replace(w, computed_ns=0) for w, _rev in
            store.read_windows(road.client, road.namespace, target, since_s, until_s)]


def same(windows: list[WindowSummary]) -> list[WindowSummary]:
    return [dataclasses.replace(w, computed_ns=0) for w in windows]


def test_old_windows_move_to_the_archive_and_readers_still_see_them(
    road: Road, tmp_path: Path,
) -> None:
    client, ns = road.client, road.namespace
    today = int(time.time()) // DAY * DAY
    old, older, recent = today - 10 * DAY, today - 9 * DAY, today - 2 * DAY
    written = [window(LINK, t + i * 300, 60.0 + i if i % 3 else None)
               for t in (old, older, recent) for i in range(6)]
    assert store.write_windows(client, ns, [(LINK, w) for w in written])
    assert store.write_windows(client, ns, [(OTHER, window(OTHER, old, 90.0))])
    directory = tmp_path / "archive"

    moved = move_windows(client, ns, directory, 7, time.time_ns())
    assert moved == 13  # two old days of the link, one window of the other link
    left = {k.decode() for _v, k in ((v, m.key) for v, m in client.get_prefix(
        keys.windows_prefix(ns)))}
    assert all(int(k.rsplit("/h", 1)[1]) >= recent for k in left)  # old days left etcd
    assert read(road, LINK) == same(written)
    assert read(road, LINK, old + 300, older + 600) == same(written[1:8])
    assert read(road, OTHER) == same([window(OTHER, old, 90.0)])

    # a window computed late into an archived day: etcd's is read, then moved too
    late = dataclasses.replace(window(LINK, old, 75.0), source_revision=9)
    assert store.write_windows(client, ns, [(LINK, late)])
    assert read(road, LINK, old, old + 1) == same([late])
    assert move_windows(client, ns, directory, 7, time.time_ns()) == 1
    assert read(road, LINK, old, old + 1) == same([late])
    assert move_windows(client, ns, directory, 7, time.time_ns()) == 0

    entries = [e for e in archive.entries(directory) if e.kind == "windows"]
    assert sorted(e.day for e in entries) == [archive.day_of(old * S), archive.day_of(older * S)]
    assert archive.verify(directory) == []
    for entry in entries:  # windows of the site's links: private like the passes
        assert stat.S_IMODE((directory / entry.path).stat().st_mode) == 0o600

    # the files as they are, by an analytics engine and by a dataset reader
    pattern = str(directory / "windows" / "day=*" / "windows.parquet")
    rows = duckdb.sql(
        f"SELECT target, count(*) AS windows, count(median_s) AS figures, day "
        f"FROM read_parquet('{pattern}', hive_partitioning = true) "
        f"GROUP BY target, day ORDER BY day, target").fetchall()
    day_old, day_older = (dt.date.fromisoformat(archive.day_of(t * S)) for t in (old, older))
    assert rows == [("link/a/b", 6, 5, day_old),  # the late window has a figure
                    ("link/b/c", 1, 1, day_old), ("link/a/b", 6, 4, day_older)]
    table = ds.dataset(directory / "windows", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 13 and "day" in table.column_names
    with pytest.raises(archive.ArchiveError, match="one archive holds them all"):
        move_windows(client, ns, tmp_path / "elsewhere", 7, time.time_ns())


def test_a_daily_snapshot_of_the_normals_goes_beside_the_windows(
    road: Road, tmp_path: Path,
) -> None:
    bins = tuple(None if i % 96 < 24 else 60.0 + i % 96 for i in range(profiles.BINS))
    profile = profiles.Profile(bins, 58.5, 4, 1.0, time.time_ns())
    profiles.write(road.client, road.namespace, LINK, profile)
    directory = tmp_path / "archive"
    assert archive_normals(road.client, road.namespace, directory, [LINK, OTHER],
                           time.time_ns()) == 1  # OTHER has no profile yet
    assert archive_normals(road.client, road.namespace, directory, [LINK, OTHER],
                           time.time_ns()) == 0  # once a day
    pattern = str(directory / "normals" / "day=*" / "normals.parquet")
    rows = duckdb.sql(
        f"SELECT count(*), count(normal_s), min(free_flow_s), max(weekday), max(minute) "
        f"FROM read_parquet('{pattern}') WHERE target = 'link/a/b'").fetchall()
    assert rows == [(672, 672 - 7 * 24, 58.5, 7, 1425)]
    assert archive.verify(directory) == []
