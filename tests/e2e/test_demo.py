"""`make demo` in its short mode: it runs, its summary adds up, and it leaves nothing running."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"central serving: collector 127\.0\.0\.1:(\d+), query \S+:(\d+), "
                     r"health \S+; etcd 127\.0\.0\.1:(\d+),")
START_S = 60.0


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ports(out: Path) -> list[int]:
    m = SERVING.search((out / "logs" / "central.log").read_text())
    assert m, "central's log has no 'serving' line"
    return [int(g) for g in m.groups()]


def demo(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "roadside.sim.demo", "--short", "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_short_demo_runs_and_its_summary_adds_up(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = demo(out)
    stdout, stderr = proc.communicate(timeout=170)
    assert proc.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    detectors = summary["detectors"]
    assert len(detectors) == 4
    for det in detectors:
        replay = summary["replay"][det]
        assert replay["frames_read"] > 0 and replay["skipped"] == {}
        assert replay["uploaded"] == replay["passes"] > 0
        # what central serves back is what the agents uploaded
        assert summary["events_per_detector"][det] == replay["uploaded"]
    assert summary["devices_at_several_detectors"] > 0
    assert all(n > 0 for n in summary["devices_per_link"].values())
    for det in detectors:
        assert det in stdout  # the operator's tables were printed
    for link in summary["travel_times"].values():
        assert link["published"] > 0
    for plot in summary["plots"]:
        assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the desk's feeds, fetched over HTTPS with an API key: every link and the route
    feed = json.loads((out / "feeds" / "travel-times.json").read_text())
    assert {e["id"] for e in feed["entries"]} == {*(f"link/{k.replace('->', '/')}"
                                                    for k in summary["travel_times"]
                                                    if "->" in k), "route/corridor"}
    assert b"ElaboratedDataPublication" in (out / "feeds" / "datex2-travel-times.xml").read_bytes()
    assert not any(listening(p) for p in ports(out))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = demo(out)
    assert proc.stdout is not None
    end = time.monotonic() + START_S
    for line in proc.stdout:
        if line.startswith("== 2/5") or time.monotonic() > end:
            break
    assert any(listening(p) for p in ports(out))
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not any(listening(p) for p in ports(out))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_in_a_terminal_the_demo_ends_at_a_live_desk(tmp_path: Path) -> None:
    """In a terminal the demo keeps central running and prints the dashboard's address; its
    feeds show current figures (the simulated period ends now); Ctrl-C stops everything."""
    out = tmp_path / "demo-out"
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "roadside.sim.demo", "--duration", "20m", "--out", str(out)],
        cwd=REPO, stdin=terminal, stdout=terminal, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    os.close(terminal)
    seen = b""
    still: list[int] = []
    try:
        end = time.monotonic() + 200
        while not re.search(rb"own site CA \(\S+\)", seen):
            assert time.monotonic() < end and proc.poll() is None, seen.decode(errors="replace")
            if select.select([controller], [], [], 1.0)[0]:
                seen += os.read(controller, 65536)
        text = seen.decode(errors="replace")
        url = re.search(r"dashboard: (https://\S+)/dashboard/#key=(\S+)", text)
        ca = re.search(r"own site CA \((\S+)\)", text)
        assert url and ca, text
        context = ssl.create_default_context(cafile=ca.group(1))
        request = urllib.request.Request(url.group(1) + "/api/v1/travel-times",
                                         headers={"Authorization": f"Bearer {url.group(2)}"})
        with urllib.request.urlopen(request, timeout=30, context=context) as reply:
            entries = json.loads(reply.read())["entries"]
        # live: every link and route has a current window, and figures in it
        assert entries and all(e["current"] for e in entries)
        assert any(e["current"]["state"] == "ok" for e in entries)
        page = urllib.request.urlopen(url.group(1) + "/dashboard/", timeout=30, context=context)
        assert b"<html" in page.read().lower()
        still = ports(out)
        assert any(listening(p) for p in still)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        os.close(controller)
    assert proc.returncode == 0
    assert not any(listening(p) for p in still)
