"""The operators' commands against a real central: routes, travel-time tables, JSON, plots."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib.image
import numpy as np
import PIL.Image
import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.store import keys
from roadside.central.traveltime import backfill, engine, stats, store
from roadside.central.traveltime.plot import MEDIAN_COLOUR, REFERENCE_COLOUR
from roadside.common.main import main
from tests.fixtures.traveltime import DAY_AGO_S, YESTERDAY, Road, S
from tests.fixtures.trust import ADMIN, ANALYST, AsOperator

W = 300
T0 = DAY_AGO_S + 3600  # a window start
SINCE = (YESTERDAY).strftime("%Y-%m-%dT%H:%M:%SZ")  # before T0
REPO = Path(__file__).resolve().parents[3]


def publish_hours(road: Road) -> None:
    """Two hours of a->b: 20 devices per window, slower in the second hour, one quiet window."""
    road.link("a", "b", max_seconds=900)
    for n in range(24):
        if n == 5:
            road.trips("a", "b", (T0 + n * W) * S, [122.0, 123.0], first_device=n * 100)
            continue
        base = 120.0 if n < 12 else 300.0  # arrivals 10 s to 2 min into window n
        road.trips("a", "b", int((T0 + n * W + 10 - base) * S),
                   [base + i % 7 for i in range(20)], first_device=n * 100, spacing_s=5)
    starts = [T0 + n * W for n in range(24)]
    for target in store.all_targets(road.client, road.namespace, 1800):
        computed = engine.compute_windows(road.client, road.namespace, target, starts, W,
                                          stats.Rules())
        store.write_windows(road.client, road.namespace, [(target, w) for w in computed])


def test_route_set_and_listed(as_operator: AsOperator, road: Road, central: RunningCentral,
                              capsys: pytest.CaptureFixture[str]) -> None:
    as_operator(ADMIN)
    road.link("a", "b")
    road.link("b", "c")
    assert main(["links", "route", "main", "a", "b", "c",
                 "--collector-host", central.collector_addr]) == 0
    capsys.readouterr()
    assert main(["links", "routes", "--format", "json", "--query-host", central.query_addr]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"name": "main", "detector_ids": ["a", "b", "c"],
                                "backfill_windows_left": 0, "backfill_windows_total": 0}
    # a route over a pair that is not a link is refused, naming the field
    assert main(["links", "route", "bad", "a", "c",
                 "--collector-host", central.collector_addr]) == 2
    err = capsys.readouterr().err
    assert "route.detector_ids[1]" in err and len(err.strip().splitlines()) == 1


def test_travel_times_as_json_with_a_plot(
    as_operator: AsOperator, road: Road, central: RunningCentral, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    publish_hours(road)
    png = tmp_path / "a-b.png"
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", SINCE,
                 "--format", "json", "--plot", str(png),
                 "--query-host", central.query_addr]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 24
    assert {"window_start_ns", "count", "median_s", "p10_s", "p90_s", "suppressed"} <= set(rows[0])
    assert rows[0]["window_start_ns"] == T0 * S and rows[0]["median_s"] == 123.0
    # under k devices: no figures, and not even the count (trust: privacy at the API)
    assert rows[5]["suppressed"] and rows[5]["median_s"] is None and rows[5]["count"] == 0
    assert rows[20]["median_s"] == 303.0
    # the chart: a real PNG with the median line's colour on it, not a blank canvas
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(png)[:, :, :3]
    median_rgb = np.array([int(MEDIAN_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    near = np.abs(pixels - median_rgb).sum(axis=2) < 0.05
    assert near.sum() > 500, "no median line drawn"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100


def test_table_and_route_csv(as_operator: AsOperator, road: Road, central: RunningCentral,
                             capsys: pytest.CaptureFixture[str]) -> None:
    as_operator(ANALYST)
    road.route("ab", "a", "b")
    publish_hours(road)
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", SINCE,
                 "--query-host", central.query_addr]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split()[:3] == ["WINDOW", "(local)", "DEVICES"]
    assert len(lines) == 25 and "2.05" in lines[1]  # 123 s as minutes
    assert "24 windows, 1 suppressed" in out.err
    assert main(["query", "route", "ab", "--since", SINCE, "--format", "csv",
                 "--query-host", central.query_addr]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    first = dict(zip(header, lines[1].split(","), strict=True))
    assert len(lines) == 25 and float(first["median_s"]) == 123.0


def test_the_plot_shows_free_flow_the_route_and_speed_over_a_known_length(
    as_operator: AsOperator,
    road: Road, central: RunningCentral, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    road.route("ab", "a", "b")
    publish_hours(road)  # the link's length is not known
    host = ["--since", SINCE, "--query-host", central.query_addr]
    png = tmp_path / "route.png"
    assert main(["query", "route", "ab", "--plot", str(png), *host]) == 0
    with PIL.Image.open(png) as image:
        info = image.info
    assert info["Title"] == "Travel time route ab: a \u2192 b"
    assert info["Description"] == "travel time (minutes), free flow 2.05 min"  # 123 s
    pixels = matplotlib.image.imread(png)[:, :, :3]
    green = np.array([int(REFERENCE_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    assert (np.abs(pixels - green).sum(axis=2) < 0.05).sum() > 300, "no free-flow line"
    link = ["query", "travel-times", "--from", "a", "--to", "b", "--speed"]
    assert main([*link, "--plot", str(tmp_path / "speed.png"), *host]) == 2
    assert "road length of a \u2192 b is not known" in capsys.readouterr().err
    road.link("a", "b", max_seconds=900, length_m=2050.0)
    assert main([*link, "--plot", str(tmp_path / "speed.png"), *host]) == 0
    with PIL.Image.open(tmp_path / "speed.png") as image:
        info = image.info
    assert info["Title"] == "Speed a \u2192 b"
    assert info["Description"] == "speed (km/h), free flow 60 km/h"  # 2050 m in 123 s


def test_a_plot_that_cannot_be_written_is_one_line(
    as_operator: AsOperator,
    road: Road, central: RunningCentral, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    publish_hours(road)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the plot's directory should be\n")
    png = blocker / "a-b.png"
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", SINCE,
                 "--plot", str(png), "--query-host", central.query_addr]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"roadside: error: --plot {png}: cannot write: ")
    assert blocker.read_text().startswith("a file")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--plot", "chart.jpg"], "--plot"),
        (["--plot", "chart.png", "--follow"], "--follow"),
        (["--to", "nowhere"], "unknown link a -> nowhere"),
        (["--speed"], "--speed"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    as_operator: AsOperator,
    road: Road, central: RunningCentral, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:
    as_operator(ANALYST)
    road.link("a", "b")
    base = ["query", "travel-times", "--from", "a", "--to", "b",
            "--query-host", central.query_addr]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_follow_prints_windows_as_they_are_published(
    as_operator: AsOperator, road: Road, central: RunningCentral,
) -> None:
    as_operator(ANALYST)
    road.link("a", "b", max_seconds=900)
    road.trips("a", "b", (T0 + 10) * S, [100.0] * 5)
    [target] = store.all_targets(road.client, road.namespace, 1800)

    def publish(start: int) -> None:
        computed = engine.compute_windows(road.client, road.namespace, target, [start], W,
                                          stats.Rules())
        store.write_windows(road.client, road.namespace, [(target, w) for w in computed])

    publish(T0)
    cmd = [sys.executable, "-m", "roadside.common.main", "query", "travel-times",
           "--from", "a", "--to", "b", "--since", SINCE, "--follow", "--format", "json",
           "--query-host", central.query_addr]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []],
                              name="follow-reader")
    reader.start()
    try:
        assert json.loads(lines.get(timeout=20))["window_start_ns"] == T0 * S
        road.trips("a", "b", (T0 + W + 10) * S, [200.0] * 5, first_device=100)
        publish(T0 + W)
        row = json.loads(lines.get(timeout=20))
        assert row["window_start_ns"] == (T0 + W) * S and row["median_s"] == 200.0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_a_window_with_nobody_is_no_data_not_suppressed(
    as_operator: AsOperator,
    road: Road, central: RunningCentral, capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    road.link("a", "b", max_seconds=900)
    road.trips("a", "b", (T0 + W) * S, [122.0, 123.0], first_device=0)  # 2 devices: suppressed
    starts = [T0, T0 + W]  # the first window: nobody at all
    for target in store.all_targets(road.client, road.namespace, 1800):
        computed = engine.compute_windows(road.client, road.namespace, target, starts, W,
                                          stats.Rules())
        store.write_windows(road.client, road.namespace, [(target, w) for w in computed])
    host = ["--query-host", central.query_addr]
    args = ["query", "travel-times", "--from", "a", "--to", "b", "--since", SINCE, *host]
    assert main([*args, "--format", "json"]) == 0
    empty, thin = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (empty["no_data"], empty["suppressed"]) == (True, False)
    assert (thin["no_data"], thin["suppressed"]) == (False, True)
    assert "state" not in empty  # display text stays in the table
    assert main(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert "no data" in table[1] and table[2].split()[-2] == "yes"
    assert table[1].split()[2:6] == ["0", "-", "-", "-"]  # no figures made up for nobody


def test_no_windows_says_what_the_workers_are_doing_and_lists_show_backfills(
    as_operator: AsOperator,
    road: Road, central: RunningCentral, capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    road.link("a", "b", max_seconds=900)
    host = ["--query-host", central.query_addr]
    args = ["query", "travel-times", "--from", "a", "--to", "b", "--since", SINCE, *host]
    assert main(args) == 0
    assert "no travel-time worker is running" in capsys.readouterr().err
    # a live worker (its presence key on its lease) computing the link's older windows
    lease = road.client.lease(60)
    road.client.put(keys.worker_key(road.namespace, "w7"), b"", lease=lease.id)
    [target] = store.all_targets(road.client, road.namespace, 1800)
    job = backfill.Backfill(target, left=[T0 + n * W for n in range(30, 0, -1)], total=100)
    backfill.write_progress(road.client, road.namespace, job, "w7")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "computing older windows: 70 of 100 done" in err and "(worker w7)" in err
    assert main(["links", "list", "--format", "json", *host]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["backfill_windows_left"], row["backfill_windows_total"]) == (30, 100)
    assert main(["links", "list", *host]) == 0
    assert "computing: 70 of 100" in capsys.readouterr().out
    assert main(["query", "status", *host]) == 0
    assert "travel times a -> b: computing older windows: 70 of 100 done" in (
        capsys.readouterr().err)
    job.left = []
    backfill.write_progress(road.client, road.namespace, job, "w7")  # done: record removed
    assert main(args) == 0
    assert "no windows in that time range" in capsys.readouterr().err
    assert main(["links", "list", "--format", "json", *host]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["backfill_windows_total"] == 0


def test_live_shows_the_current_figure_marked_provisional(
    as_operator: AsOperator, road: Road, central: RunningCentral,
    capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    road.link("a", "b", max_seconds=900)
    args = ["query", "travel-times", "--from", "a", "--to", "b", "--live",
            "--query-host", central.query_addr]
    lease = road.client.lease(60)  # a live worker
    road.client.put(keys.worker_key(road.namespace, "w7"), b"", lease=lease.id)
    assert main(args) == 0
    assert "no live figure yet" in capsys.readouterr().err
    # what a worker writes each minute: the last 5 minutes (to any second), provisional
    road.trips("a", "b", (T0 - 320) * S, [150.0 + i for i in range(6)], spacing_s=10)
    [target] = store.all_targets(road.client, road.namespace, 1800)
    [window] = engine.compute_windows(road.client, road.namespace, target, [T0 - W - 37], W,
                                      stats.Rules())
    figure = dataclasses.replace(window, provisional=True)
    road.client.put(keys.live_key(road.namespace, target.path), figure.to_json())
    assert main([*args, "--format", "json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["provisional"] is True and row["count"] == 6 and row["median_s"] == 152.5
    assert row["window_end_ns"] == (T0 - 37) * S
    assert main(args) == 0
    assert "live, the last 5 min" in capsys.readouterr().err
    assert main([*args, "--follow"]) == 2
    assert "--live shows the current figure: it takes no --follow" in capsys.readouterr().err
