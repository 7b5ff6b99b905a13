"""Peak memory (RSS) of `roadside agent run` replaying every real capture to a real central.

Starts etcd and central (in this process), then the agent as a child process with
`--replay` of all captures in ../shared/captures (WiFi and BLE) at full speed, and
samples its /proc status until it has uploaded everything; then SIGTERM. Baselines from
the same run: a bare Python interpreter, and one that only imports what the agent
imports. Target: agent peak RSS <= 80 MB (a Pi Zero 2 W has 512 MB).

    .venv/bin/python bench/bench_agent_memory.py [--captures DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from local_central import local_central

from agent.privacy import generate_secret

REPO = Path(__file__).resolve().parents[1]
TARGET_MB = 80.0
SAMPLE_S = 0.05  # RSS sampling period
RUN_TIMEOUT_S = 300.0
RETENTION_DAYS = 5000  # central keeps the captures' original (2020s) times
IMPORTS = ("import grpc, sqlite3, cryptography.hazmat.primitives.kdf.hkdf, ulid, yaml; "
           "import agent.runner, agent.sources.replay, proto.roadside.v1.collector_pb2_grpc")


def peak_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a live process, in KiB; 0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def baseline(code: str) -> int:
    """Peak RSS of `python -c code` that then waits for stdin to close."""
    proc = subprocess.Popen([sys.executable, "-c", code + "\nimport sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE, cwd=REPO)
    peak = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = peak_kib(proc.pid)
        if now and now == peak:  # settled after start-up
            break
        peak = max(peak, now)
        time.sleep(0.2)  # sampling period
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()
    return peak


def status(state: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((state / "status.json").read_text())
        return data
    except (OSError, ValueError):
        return {}


def run_agent(tmp: Path, central: str, captures: list[Path]) -> tuple[int, dict[str, Any], float]:
    """Run the agent until everything is uploaded: (peak RSS KiB, last status, seconds)."""
    generate_secret(tmp / "site.secret")
    state = tmp / "state"
    (tmp / "agent.yaml").write_text(yaml.safe_dump({
        "detector_id": "bench-mem", "central": [central],
        "secret_file": str(tmp / "site.secret"), "state_dir": str(state),
        "ble_enabled": False,
    }))
    command = [sys.executable, "-m", "agent.main", "--log-level", "warning", "agent", "run",
               "--config", str(tmp / "agent.yaml"),
               *(x for c in captures for x in ("--replay", str(c)))]
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    peak, last = 0, {}
    try:
        while time.monotonic() - start < RUN_TIMEOUT_S:
            peak = max(peak, peak_kib(proc.pid))
            last = status(state)
            done = any(s.get("state") == "finished" for s in last.get("sources", []))
            if done and last.get("buffer_depth") == 0 and last.get("last_upload_ns"):
                break
            time.sleep(SAMPLE_S)  # sampling period
        elapsed = time.monotonic() - start
        peak = max(peak, peak_kib(proc.pid))
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None:
            peak = max(peak, peak_kib(proc.pid))
            time.sleep(SAMPLE_S)  # sampling period
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return peak, last, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=Path, default=REPO.parent / "shared" / "captures")
    args = parser.parse_args()
    captures = sorted(args.captures.glob("*/*.pcap*"))
    if not captures:
        print(f"no captures under {args.captures}", file=sys.stderr)
        return 1
    bare = baseline("pass")
    imports = baseline(IMPORTS)
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp_name:
        tmp = Path(tmp_name)
        with local_central(tmp, retention_days=RETENTION_DAYS) as central:
            peak, last, elapsed = run_agent(tmp, central.collector_addr, captures)
    mib = 1024.0
    print(f"captures replayed: {len(captures)} files, {last.get('sightings_total', 0):,} "
          f"sightings, {last.get('passes_total', 0):,} passes uploaded in {elapsed:.1f} s")
    print(f"baseline  bare python interpreter    : {bare / mib:6.1f} MiB peak RSS")
    print(f"baseline  python + the agent imports : {imports / mib:6.1f} MiB peak RSS")
    peak_mb = peak * 1024 / 1e6
    print(f"roadside agent run (replay -> central): {peak / mib:6.1f} MiB peak RSS "
          f"= {peak_mb:.1f} MB (+{(peak - bare) / mib:.1f} MiB over bare python)")
    verdict = "meets" if peak_mb <= TARGET_MB else "MISSES"
    print(f"target <= {TARGET_MB:.0f} MB: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
