"""Reports on DuckDB: reliability indices, the weekday x hour profile, coverage and the OD
matrix, each against figures worked out by hand; `roadside report` over etcd and the
archive as an analyst runs it (JSON, CSV, Parquet and a PNG)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from roadside.central.store import archive
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.event_reads import EventReader
from roadside.central.store.records import LinkRecord, StoredPass
from roadside.central.traveltime import od, reports, store
from roadside.central.traveltime.archiver import move_windows
from roadside.central.traveltime.downtime import downtime
from roadside.central.traveltime.model import Figures, Target, WindowSummary
from roadside.common.main import main
from tests.fixtures.traveltime import Road

S = 1_000_000_000
MONDAY = 1_795_996_800  # 2026-11-30 00:00 UTC, a Monday
LINK = Target((LinkRecord("a", "b", 600),))


def window(start_s: int, median: float | None, suppressed: bool = False,
           count: int = 6) -> WindowSummary:
    figures = None if median is None else Figures(median, median, median, median, median, 0)
    return WindowSummary(
        src="a", dest="b", route="", window_start_ns=start_s * S,
        window_end_ns=(start_s + 300) * S,
        count=count if median is not None or suppressed else 0,  # under k: samples kept
        suppressed=suppressed or median is None, figures=figures,
        devices=count if median is not None else 0,
        worker="w1")


def test_reliability_indices_are_fhwa_s() -> None:
    # 17 windows at 60 s and 3 at 120 s: mean 69, 95th percentile 120
    medians = [60.0] * 17 + [120.0] * 3
    table = reports.windows_table([window(MONDAY + i * 300, m) for i, m in enumerate(medians)]
                                  + [window(MONDAY + 6000, None)], "link/a/b")
    [row] = reports.reliability(table)
    assert row["windows"] == 20 and row["free_flow_s"] == 60.0  # the 15th percentile
    assert row["mean_s"] == pytest.approx(69.0) and row["p95_s"] == pytest.approx(120.0)
    assert row["tti"] == pytest.approx(69 / 60) and row["pti"] == pytest.approx(2.0)
    assert row["bi"] == pytest.approx((120 - 69) / 69)
    [given] = reports.reliability(table, free_flow_s=50.0)
    assert given["tti"] == pytest.approx(69 / 50)
    by_hour = reports.reliability(table, "hour", "Asia/Kolkata")  # UTC+5:30
    assert [r["group"] for r in by_hour] == [5, 6, 7]  # 00:00-01:35 UTC: 05:30-07:05 there


def test_profile_is_by_weekday_and_hour_on_the_site_s_clock() -> None:
    windows = [window(MONDAY + 8 * 3600 + week * 7 * 86_400, 100.0 + 10 * week)
               for week in range(3)]  # Mondays 08:00 UTC
    windows += [window(MONDAY + 86_400 + 17 * 3600, 200.0)]  # a Tuesday 17:00 UTC
    rows = reports.profile(reports.windows_table(windows, "link/a/b"), "Europe/Berlin")
    assert [(r["weekday"], r["hour"], r["windows"], r["median_s"]) for r in rows] == [
        (1, 9, 3, 110.0), (2, 18, 1, 200.0)]  # UTC+1 in winter


def test_coverage_counts_what_was_published_suppressed_and_missing() -> None:
    windows = ([window(MONDAY + i * 300, 70.0) for i in range(10)]
               + [window(MONDAY + 3000 + i * 300, None, suppressed=True) for i in range(2)]
               + [window(MONDAY + 3600, None)])
    [row] = reports.coverage(reports.windows_table(windows, "link/a/b"), MONDAY * S,
                             (MONDAY + 7200) * S, 300)
    assert (row["windows_expected"], row["published"], row["suppressed"],
            row["without_data"]) == (24, 10, 2, 12)
    assert row["published_share"] == pytest.approx(10 / 24)
    assert row["samples_per_hour"] == pytest.approx(60 / 2)


def test_od_counts_devices_per_trip_and_suppresses_small_cells() -> None:
    def p(det: str, dev: str, t: int, alias: bool = False) -> StoredPass:
        return StoredPass(det, "u", dev, t * S, t * S, t * S, t * S, -50, 1, "wifi",
                          "wifi_global", alias=alias)

    passes = []
    for i in range(6):  # six devices a -> b -> c, each also heard as an alias at a
        passes += [p("a", f"d{i}", 100 + i), p("b", f"d{i}", 200 + i),
                   p("c", f"d{i}", 300 + i), p("a", f"e{i}", 100 + i, alias=True)]
    passes += [p("b", f"y{i}", 0) for i in range(2)] + [p("c", f"y{i}", 50) for i in range(2)]
    passes += [p("a", "slow", 0), p("b", "slow", 5000)]  # over the link's limit: no trip
    links = [LinkRecord("a", "b", 600), LinkRecord("b", "c", 600)]
    rows = od.matrix(od.passes_table(passes), links, 1800, k=5)
    assert rows == [
        {"origin": "a", "destination": "c", "devices": 6, "suppressed": False},
        {"origin": "b", "destination": "c", "devices": None, "suppressed": True}]
    # zones: a and b are the centre; a trip within a zone is not counted
    by_zone = od.matrix(od.passes_table(passes), links, 1800, k=1,
                        zones={"a": "centre", "b": "centre", "c": "south"})
    assert by_zone == [{"origin": "centre", "destination": "south", "devices": 8,
                        "suppressed": False}]


def test_report_command_reads_etcd_and_the_archive(
    road: Road, etcd_server: EtcdProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    road.link("a", "b", max_seconds=600)
    today = int(time.time()) // 86_400 * 86_400
    old, recent = today - 10 * 86_400, today - 86_400
    windows = [window(t + i * 300, 60.0 if i % 4 else 90.0) for t in (old, recent)
               for i in range(12)]
    assert store.write_windows(road.client, road.namespace, [(LINK, w) for w in windows])
    assert move_windows(road.client, road.namespace, tmp_path / "archive", 7,
                        time.time_ns()) == 12  # the old day is read from the archive

    def report(*args: str) -> int:
        return main(["report", *args, "--etcd-endpoints", etcd_server.endpoint,
                     "--namespace", road.namespace, "--pki-dir", str(tmp_path / "none"),
                     "--since", "-14d"])

    assert report("reliability", "--link", "a", "b", "--format", "json", "--by", "day",
                  "--plot", str(tmp_path / "r.png")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["windows"] for r in rows] == [12, 12] and rows[0]["free_flow_s"] == 60.0
    assert rows[0]["p95_s"] == pytest.approx(90.0) and rows[0]["tti"] == pytest.approx(1.125)
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert report("coverage", "--link", "a", "b", "--format", "csv", "--plot",
                  str(tmp_path / "c.html")) == 0
    page = (tmp_path / "c.html").read_text()
    assert "data:image/png;base64," in page and "<td>24</td>" in page
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("windows_expected,published,") and lines[1].split(",")[1] == "24"
    out = tmp_path / "profile.parquet"
    assert report("profile", "--link", "a", "b", "--format", "parquet", "--out", str(out)) == 0
    assert pq.read_table(out).num_rows == 2  # two weekdays, one hour each
    assert report("reliability", "--link", "a", "zz") == 2
    assert "--link: no link a -> zz" in capsys.readouterr().err


def test_report_od_over_zones_is_audited_and_names_a_bad_zones_file(
    road: Road, etcd_server: EtcdProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    road.link("a", "b", max_seconds=600)
    road.link("b", "c", max_seconds=600)
    now = int(time.time())
    road.trips("a", "b", (now - 3000) * S, [60.0] * 6)
    road.trips("b", "c", (now - 2000) * S, [60.0] * 2, first_device=50)
    zones = tmp_path / "zones.yaml"
    zones.write_text("zones:\n  west: [a]\n  east: [b, c]\n")

    def od_report(*args: str) -> int:
        return main(["report", "od", *args, "--etcd-endpoints", etcd_server.endpoint,
                     "--namespace", road.namespace, "--pki-dir", str(tmp_path / "none"),
                     "--since", "-1d", "--format", "json"])

    assert od_report("--zones", str(zones)) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"origin": "west", "destination": "east", "devices": 6,
                     "suppressed": False}]  # b -> c stays inside east
    assert od_report() == 0  # between detectors: b -> c has 2 devices, under k
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["origin"], r["destination"]): r["devices"] for r in rows} == {
        ("a", "b"): 6, ("b", "c"): None}
    assert sum(e["method"] == "report od" for e in road.store.audit()) == 2
    zones.write_text("zones:\n  west: a\n")
    assert od_report("--zones", str(zones)) == 2
    assert "--zones" in capsys.readouterr().err


def test_coverage_counts_the_hours_each_detector_heard_nobody(
    road: Road, tmp_path: Path,
) -> None:
    """Passes in etcd and in the archive's files: the hours with none are downtime."""
    hour = 3600
    day = (int(time.time()) // 86_400 - 3) * 86_400  # a closed day, in the archive
    archived = [StoredPass("a", "u", f"d{i}", (day + h * hour + 60) * S, (day + h * hour) * S,
                           (day + h * hour) * S, (day + h * hour) * S, -50, 1, "wifi",
                           "wifi_global") for i, h in enumerate((1, 1, 5))]
    directory = tmp_path / "archive"
    archive.record(directory, [archive.write_day(directory, archive.day_of(day * S), "a",
                                                 archived, time.time_ns())])
    next_day = day + 86_400  # in etcd: a heard in hours 0 and 2, b in hour 2
    road.passes("a", [("x", (next_day + 60) * S), ("y", (next_day + 2 * hour) * S)])
    road.passes("b", [("y", (next_day + 2 * hour + 90) * S)])
    reader = EventReader(road.store, None)
    down = downtime(reader, directory, ("a", "b"), day * S, (next_day + 86_400) * S)
    assert down == {"a": 48 - 4, "b": 48 - 1}  # a: hours 1 and 5, then 0 and 2
    assert downtime(reader, None, ("a",), next_day * S, (next_day + 3 * hour) * S) == {"a": 1}
