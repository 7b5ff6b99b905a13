"""`roadside query ...` and `roadside links ...` end to end against a real central."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roadside.central.store.records import DetectorRecord
from roadside.common.main import main
from tests.central.query_helpers import BASE_NS, S, make_pass
from tests.fixtures.query import QueryServer
from tests.fixtures.trust import ADMIN, ANALYST, AsOperator

DEADLINE_S = 15.0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rfc3339(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / S, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def stored(query_server: QueryServer) -> list[int]:
    times = [BASE_NS + i * 60 * S for i in range(10)]
    query_server.store.put_passes([make_pass("north", t) for t in times])
    query_server.store.put_passes([make_pass("south", t + 30 * S) for t in times])
    return times


def test_events_json_csv_and_table(
    as_operator: AsOperator,
    query_server: QueryServer, stored: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    as_operator(ANALYST)
    host = ["--query-host", query_server.address]
    window = ["--since", rfc3339(stored[2]), "--until", rfc3339(stored[6])]

    code, out, _ = run(capsys, "query", "events", "--detector", "north", *window,
                       "--format", "json", *host)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["timestamp_ns"] for r in rows] == stored[2:6]
    assert {r["detector_id"] for r in rows} == {"north"}
    assert all(len(r["device_id"]) == 32 for r in rows)

    code, out, _ = run(capsys, "query", "events", "--detector", "north", "--detector", "south",
                       *window, "--format", "csv", *host)
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 8
    assert {r["detector_id"] for r in table} == {"north", "south"}
    assert sorted(int(r["timestamp_ns"]) for r in table if r["detector_id"] == "south") == [
        t + 30 * S for t in stored[2:6]
    ]

    code, out, err = run(capsys, "query", "events", "--since", rfc3339(stored[0]), "--limit",
                         "5", *host)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "(local)", "DETECTOR"]
    assert len(lines) == 1 + 5
    assert err == "5 events (--limit reached: there may be more)\n"
    code, out, err = run(capsys, "query", "events", "--detector", "north", "--since",
                         rfc3339(stored[0]), "--limit", "50", *host)
    assert code == 0 and err == "10 events\n"  # under the limit: all there is


def test_events_come_in_time_order_across_detectors_and_limit_takes_the_earliest(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """'zeta' (sorted last by key) has the earliest events; in one bucket a pass first seen
    earlier (smaller ULID) peaks later: output is by timestamp, --limit the earliest N."""
    as_operator(ANALYST)
    stored = [make_pass("zeta", BASE_NS + i * S) for i in range(4)]
    stored += [make_pass("alpha", BASE_NS + 10 * S + i * S) for i in range(4)]
    early_first = make_pass("alpha", BASE_NS + 30 * S)
    stored.append(dataclasses.replace(early_first, ulid=make_pass("alpha", BASE_NS).ulid))
    query_server.store.put_passes(stored)
    host = ["--query-host", query_server.address, "--since", rfc3339(BASE_NS)]
    code, out, _ = run(capsys, "query", "events", "--format", "json", *host)
    times = [json.loads(line)["timestamp_ns"] for line in out.splitlines()]
    assert code == 0 and times == sorted(p.timestamp_ns for p in stored)
    code, out, _ = run(capsys, "query", "events", "--detector", "alpha", "--detector", "zeta",
                       "--limit", "6", "--format", "csv", *host)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [r["detector_id"] for r in rows] == ["zeta"] * 4 + ["alpha"] * 2
    assert [int(r["timestamp_ns"]) for r in rows] == sorted(p.timestamp_ns for p in stored)[:6]


def test_relative_times_select_recent_events(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    as_operator(ANALYST)
    now = time.time_ns()
    query_server.store.put_passes([make_pass("east", now - 3 * 3600 * S),
                                   make_pass("east", now - 20 * 60 * S)])
    code, out, _ = run(capsys, "query", "events", "--detector", "east", "--since", "1h",
                       "--until", "now", "--format", "json", "--query-host", query_server.address)
    assert code == 0
    assert [json.loads(x)["timestamp_ns"] for x in out.splitlines()] == [now - 20 * 60 * S]


def test_detectors_status_and_links(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    as_operator(ADMIN)
    store = query_server.store
    store.register_detector(DetectorRecord("north", "North gate", 52.1, 4.3, ("ble",)))
    store.register_detector(DetectorRecord("south", "South gate", 52.0, 4.3, ("wifi",)))
    store.put_status("north", {
        "detector_id": "north", "reported_ns": str(BASE_NS), "buffer_depth": "17",
        "oldest_unsent_age_s": 42.0, "clock_sync": "CLOCK_SYNC_SYNCED",
        "disk_free_bytes": str(3 * 2**30),
        "sources": [{"name": "ble", "state": "running", "sightings_per_minute": 31.0}],
    }, BASE_NS)
    q = ["--query-host", query_server.address]

    code, out, _ = run(capsys, "query", "detectors", *q)
    assert code == 0
    assert "North gate" in out and "South gate" in out and "52.10000" in out

    code, out, _ = run(capsys, "query", "status", "--format", "json", *q)
    assert code == 0
    (row,) = [json.loads(x) for x in out.splitlines()]
    assert (row["detector_id"], row["buffer_depth"], row["clock_sync"]) == ("north", 17, "synced")
    # machine values in JSON (display text stays in the table)
    assert row["sources"] == [{"name": "ble", "state": "running", "sightings_per_minute": 31.0,
                               "restarts": 0, "last_error": ""}]
    assert "last_upload" not in row and "disk_free" not in row
    assert row["disk_free_bytes"] == 3 * 2**30 and isinstance(row["last_upload_ns"], int)
    code, out, _ = run(capsys, "query", "status", *q)
    assert "ble:running 31" in out and "3.0 GiB" in out and "42 s" in out

    road = tmp_path / "north-south.geojson"  # the road, as a GIS exports it: a Feature
    road.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
        "type": "LineString", "coordinates": [[4.3, 52.1], [4.31, 52.05, 3.0], [4.3, 52.0]]}}))
    code, out, _ = run(capsys, "links", "set", "south", "--src", "north:600:1200",
                       "--geometry", f"north={road}",
                       "--collector-host", query_server.central.collector_addr)
    assert code == 0
    code, out, _ = run(capsys, "links", "list", "--format", "json", *q)
    assert [json.loads(x) for x in out.splitlines()] == [
        {"src_detector_id": "north", "dest_detector_id": "south", "max_seconds": 600,
         "length_m": 1200.0, "min_speed_kmh": 0.0, "max_speed_kmh": 0.0,
         "outlier_filter": "robust", "vehicle_only": False,
         "geometry": [[4.3, 52.1], [4.31, 52.05], [4.3, 52.0]], "backfill_windows_left": 0,
         "backfill_windows_total": 0}
    ]
    code, out, _ = run(capsys, "links", "list", *q)
    assert "3 points" in out
    code, _out, err = run(capsys, "links", "set", "south", "--src", "north:600",
                          "--geometry", f"east={road}",
                          "--collector-host", query_server.central.collector_addr)
    assert code == 2 and "--geometry east: not a --src of this call" in err
    code, out, _ = run(capsys, "links", "list", "--dest", "north", "--format", "csv", *q)
    assert out.splitlines() == ["src_detector_id,dest_detector_id,max_seconds,length_m,"
                               "min_speed_kmh,max_speed_kmh,outlier_filter,vehicle_only,"
                               "geometry,backfill_windows_left,backfill_windows_total"]
    code, out, err = run(capsys, "links", "list", "--dest", "north", *q)  # a table: a hint
    assert code == 0 and len(out.splitlines()) == 1
    assert err == ("no links into north: add them with roadside links set north"
                   " --src SRC:MAX_SECONDS\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "events", "--since", "yesterday"], "bad time for --since: 'yesterday'"),
        (["query", "events", "--until", "2h x"], "bad time for --until"),
        (["query", "events", "--detector", "nowhere"], "unknown detector 'nowhere'"),
        (["query", "events", "--detector", "No/pe"], "detector_ids[0]"),
        (["query", "tail", "--detector", "nowhere"], "unknown detector 'nowhere'"),
        (["links", "set", "south", "--src", "north"], "bad --src 'north'"),
    ],
)
def test_errors_are_one_line(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    as_operator(ANALYST)
    extra = ["--query-host", query_server.address] if argv[0] == "query" else []
    code, out, err = run(capsys, *argv, *extra)
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1 and message in err


def test_unreachable_central_is_one_line_without_traceback(as_operator: AsOperator) -> None:
    as_operator(ANALYST)
    with socket_free_port() as port:
        proc = subprocess.run(
            [sys.executable, "-m", "roadside.common.main", "query", "events", "--since", "1h",
             "--query-host", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=DEADLINE_S, check=False,
        )
    assert proc.returncode != 0
    assert proc.stderr == f"roadside: error: central unreachable at 127.0.0.1:{port}\n"


@contextlib.contextmanager
def socket_free_port() -> Iterator[int]:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_tail_prints_new_events_until_ctrl_c(
    as_operator: AsOperator, query_server: QueryServer,
) -> None:
    as_operator(ANALYST)
    store = query_server.store
    store.put_passes([make_pass("tailgate", BASE_NS)])
    store.register_detector(DetectorRecord("pos-3"))  # registered, no pass yet: tailable
    lines: list[dict[str, int]] = []
    got = threading.Condition()
    with subprocess.Popen(
        [sys.executable, "-m", "roadside.common.main", "query", "tail", "--detector", "tailgate",
         "--detector", "pos-3", "--since", "2d", "--format", "json",
         "--query-host", query_server.address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                with got:
                    lines.append(json.loads(line))
                    got.notify_all()

        reader = threading.Thread(target=read, name="tail-reader", daemon=True)
        reader.start()
        try:
            with got:
                assert got.wait_for(lambda: len(lines) >= 1, DEADLINE_S), "stored event missing"
            store.put_passes([make_pass("tailgate", BASE_NS + 5 * S),
                              make_pass("pos-3", BASE_NS + 6 * S)])
            with got:
                assert got.wait_for(lambda: len(lines) >= 3, DEADLINE_S), "new events missing"
            assert [x["timestamp_ns"] for x in lines] == [BASE_NS, BASE_NS + 5 * S,
                                                          BASE_NS + 6 * S]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(DEADLINE_S) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(DEADLINE_S)
            reader.join(DEADLINE_S)


def test_query_host_from_environment_and_yaml(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    as_operator(ANALYST)
    query_server.store.register_detector(DetectorRecord("west", "West gate"))
    monkeypatch.setenv("ROADSIDE_QUERY_HOST", query_server.address)
    code, out, _ = run(capsys, "query", "detectors", "--format", "csv")
    assert code == 0 and "west,West gate" in out

    monkeypatch.delenv("ROADSIDE_QUERY_HOST")
    config = tmp_path / "roadside.yaml"
    config.write_text(f"client:\n  query_host: {query_server.address}\n")
    code, out, _ = run(capsys, "query", "detectors", "--format", "csv", "--config", str(config))
    assert code == 0 and "west,West gate" in out

    # a flag beats the file
    code, _, err = run(capsys, "query", "detectors", "--config", str(config),
                       "--query-host", "127.0.0.1:1")
    assert code != 0 and "central unreachable at 127.0.0.1:1" in err


def test_a_stored_name_with_terminal_escapes_is_shown_escaped(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    as_operator(ANALYST)
    # an older central accepted any name: one that retitles the operator's terminal
    query_server.store.register_detector(DetectorRecord("evil", "\x1b]0;owned\x07Box 1"))
    code, out, _ = run(capsys, "query", "detectors", "--query-host", query_server.address)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07Box 1" in out
    code, out, _ = run(capsys, "query", "detectors", "--format", "json",
                       "--query-host", query_server.address)
    assert "\x1b" not in out  # JSON escapes it itself: \u001b
    assert json.loads(out.splitlines()[0])["name"] == "\x1b]0;owned\x07Box 1"


def test_a_closed_pipe_ends_output_quietly(
    as_operator: AsOperator, query_server: QueryServer,
) -> None:
    as_operator(ANALYST)
    query_server.store.put_passes([make_pass("many", BASE_NS + i * S)
                                   for i in range(6000)])  # far more than a pipe holds
    proc = subprocess.run(
        f"{sys.executable} -m roadside.common.main query events --detector many --since 7d "
        f"--format csv --query-host {query_server.address} | head -1",
        shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("timestamp_ns") or proc.stdout.strip()
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_links_set_without_sources_needs_clear_and_routes_keep_their_links(
    as_operator: AsOperator,
    query_server: QueryServer, capsys: pytest.CaptureFixture[str]
) -> None:
    as_operator(ADMIN)
    c = ["--collector-host", query_server.central.collector_addr]
    for detector_id in "abcxy":
        query_server.store.register_detector(DetectorRecord(detector_id))
    assert run(capsys, "links", "set", "b", "--src", "a:600", *c)[0] == 0
    assert run(capsys, "links", "set", "c", "--src", "b:600", *c)[0] == 0
    code, _, err = run(capsys, "links", "set", "b", *c)  # forgot --src: nothing deleted
    assert code == 2 and "--clear" in err
    assert [link.src for link in query_server.store.links("b")] == ["a"]
    assert run(capsys, "links", "route", "abc", "a", "b", "c", *c)[0] == 0
    code, _, err = run(capsys, "links", "set", "b", "--clear", *c)
    assert code == 2 and "route abc uses the link a -> b" in err
    assert [link.src for link in query_server.store.links("b")] == ["a"]
    code, _, _ = run(capsys, "links", "set", "b", "--src", "a:900", *c)  # changing it: fine
    assert code == 0
    assert run(capsys, "links", "set", "x", "--src", "y:60", *c)[0] == 0
    code, _, _ = run(capsys, "links", "set", "x", "--clear", *c)  # no route uses it
    assert code == 0 and query_server.store.links("x") == []
