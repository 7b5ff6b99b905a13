"""`roadside agent run` and `roadside agent status` as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roadside.agent.status import AgentStatus, ClockSync, SourceState, write_status
from roadside.common.main import main

REPO = Path(__file__).resolve().parents[2]


def sample_status(reported_ns: int) -> AgentStatus:
    return AgentStatus(
        detector_id="a1-km12", reported_ns=reported_ns, buffer_depth=1234,
        buffer_bytes=180_000, oldest_unsent_age_s=10800.0,
        last_upload_ns=reported_ns - 90 * 10**9,
        sources=(SourceState("ble", "running", 42.5, 1, ""),
                 SourceState("wifi", "restarting", 0.0, 3, "interface wlan1mon is down")),
        clock_sync=ClockSync.SYNCED, disk_free_bytes=3 * 2**30, dropped_passes=7,
        passes_total=99_000, endpoint="central.example:9000", upload_failures=4,
    )


def test_status_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_status(tmp_path, sample_status(time.time_ns()))
    assert main(["agent", "status", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1234 passes" in out and "3.0 h" in out  # depth, oldest unsent age
    assert "(90 s ago)" in out or "(91 s ago)" in out  # last successful upload
    assert "synced" in out and "3.0 GiB" in out
    assert "ble" in out and "42.5" in out
    assert "restarting" in out and "interface wlan1mon is down" in out
    assert "stale" not in out


def test_status_rate_of_a_finished_replay_is_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = dataclasses.replace(sample_status(time.time_ns()), sources=(
        SourceState("ble", "running", 42.5), SourceState("replay", "finished", 0.0),
    ))
    write_status(tmp_path, status)
    assert main(["agent", "status", "--state-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("ble ", "replay "))}
    assert rows["ble"][1:3] == ["running", "42.5"]
    assert rows["replay"][1:3] == ["finished", "-"]


def test_status_json_and_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_status(tmp_path, sample_status(time.time_ns() - 600 * 10**9))
    assert main(["agent", "status", "--state-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["buffer_depth"] == 1234 and data["clock_sync"] == "synced"
    assert data["sources"][1]["restarts"] == 3 and data["age_s"] >= 600
    assert main(["agent", "status", "--state-dir", str(tmp_path)]) == 0
    assert "stale: is the agent running?" in capsys.readouterr().out


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadside.common.main", *args], cwd=cwd, capture_output=True,
        text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                    "HOME": os.environ["HOME"]},
    )


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = run_cli("agent", "status", "--state-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert missing.returncode == 2 and "status.json not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr

    bad = run_cli("agent", "run", "--pass-gap-s", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and "--pass-gap-s: expected a number" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    secret = tmp_path / "site.secret"
    secret.write_text("0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o644)
    leaky = run_cli("agent", "run", "--detector-id", "d1", "--secret-file", str(secret),
                    "--ble-enabled", "false", "--replay", str(tmp_path / "x.pcap"), cwd=tmp_path)
    assert leaky.returncode == 2 and f"chmod 600 {secret}" in leaky.stderr
    assert len(leaky.stderr.strip().splitlines()) == 1

    nothing = run_cli("agent", "run", "--detector-id", "d1", "--ble-enabled", "no", cwd=tmp_path)
    assert nothing.returncode == 2 and "no source enabled" in nothing.stderr


def test_run_help_documents_settings() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "agent", "run", "--help"], cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert "--pass-gap-s" in out and "--central" in out and "SIGTERM" in out
    assert "collector endpoints, tried in order" in out  # help taken from agent/config.py
