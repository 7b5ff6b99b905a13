"""Peak memory (RSS) of ONE `roadside agent run` process running every source it can here.

In the one agent process, at once:
- ble: real bleak against python-dbusmock's BlueZ (bluez5 template) on a private D-Bus
  system bus, with devices whose RSSI this benchmark keeps changing (so BlueZ reports them);
- serial: pyserial on a pty pair, a fake nRF52840 (nRF Sniffer for Bluetooth LE) on the far
  side answering the handshake and sending advertising packet events;
- replay: every real capture in tests/data/captures, at full speed;
- wifi: needs a monitor-mode interface; when there is none it is not run, and the output
  says so.
etcd and central run on loopback (central in this process); the agent uploads to it. Its
peak RSS (VmHWM) is sampled until the replay is finished and uploaded and the live sources
have been heard; then SIGTERM. Baselines from the same run: a bare Python interpreter, and
one that only imports what the agent imports. A source that fails to start is printed as
such. Target: agent peak RSS <= 80 MB (a Pi Zero 2 W has 512 MB).

    .venv/bin/python bench/bench_agent_memory.py [--captures DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_central import local_central  # noqa: E402

from roadside.agent.privacy import generate_secret  # noqa: E402
from tests.fixtures.bluez import BluezMock, BluezUnavailable, private_bluez  # noqa: E402
from tests.fixtures.serial_board import FakeNrfBoard  # noqa: E402

TARGET_MB = 80.0
SAMPLE_S = 0.05  # RSS sampling period
DRIVE_S = 0.25  # BLE RSSI changes and serial adverts this often
SERIAL_LINES = 20  # per DRIVE_S: 80 advertisements a second
SERIAL_MACS = 40  # distinct (random static) BLE addresses the board reports
BLE_DEVICES = 8
RUN_TIMEOUT_S = 300.0
LIVE_GRACE_S = 30.0  # after the replay is uploaded, how long to wait for a silent live source
MIN_RUN_S = 30.0  # the live sources keep running at least this long
PROGRESS_S = 5.0
LOG_MARKS = {  # agent log lines (info) that mark a source as up, or the replay as done
    "ble up": "ble hci0: scanning",
    "serial up": " scanning channels ",
    "replay finished": "source replay finished",
}
RETENTION_DAYS = 5000  # central keeps the captures' original (2020s) times
ARPHRD_IEEE80211_RADIOTAP = 803  # /sys/class/net/<if>/type of a monitor-mode interface
IMPORTS = ("import grpc, sqlite3, cryptography.hazmat.primitives.kdf.hkdf, ulid, yaml, bleak, "
           "serial, dbus_fast; import roadside.agent.runner, roadside.agent.sources.replay, "
           "roadside.agent.sources.ble, roadside.agent.sources.serial_source, "
           "roadside.proto.v1.collector_pb2_grpc")


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


def monitor_interfaces() -> list[str]:
    """Network interfaces in monitor mode (radiotap link type)."""
    found = []
    for dev in sorted(Path("/sys/class/net").glob("*")):
        with contextlib.suppress(OSError, ValueError):
            if int((dev / "type").read_text()) == ARPHRD_IEEE80211_RADIOTAP:
                found.append(dev.name)
    return found


def status(state: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((state / "status.json").read_text())
        return data
    except (OSError, ValueError):
        return {}


@dataclass
class Live:
    """What the benchmark started for the agent, and what it saw of each source."""

    bluez: BluezMock | None
    board: FakeNrfBoard
    wifi: str | None
    not_started: dict[str, str] = field(default_factory=dict)  # source -> why
    first_heard_s: dict[str, float] = field(default_factory=dict)
    replay_running_then: dict[str, bool] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # last seen per source
    ble_changes: int = 0
    serial_sent: int = 0
    serial_refused: int = 0  # adverts the pty had no room for
    exit_code: int | None = None  # the agent's, after SIGTERM
    marks: dict[str, float] = field(default_factory=dict)  # LOG_MARKS seen, seconds in
    peak_at_replay_end: int = 0  # KiB
    log_problems: int = 0  # agent log lines at WARNING or above (passed through)


async def read_log(live: Live, stream: asyncio.StreamReader, start: float) -> None:
    """Note when the agent logs LOG_MARKS; pass its warnings and errors through."""
    while raw := await stream.readline():  # until EOF
        line = raw.decode(errors="replace").rstrip()
        for mark, text in LOG_MARKS.items():
            if text in line and mark not in live.marks:
                live.marks[mark] = time.monotonic() - start
        if " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
            live.log_problems += 1
            print(f"  agent: {line}", file=sys.stderr)


async def drive(live: Live, paths: list[str], stop: asyncio.Event) -> None:
    """Keep the live sources busy: BLE RSSI changes, serial advertising events."""
    tick = 0
    t0 = time.monotonic()
    while not stop.is_set():
        tick += 1
        if live.bluez is not None:
            path = paths[tick % len(paths)]
            with contextlib.suppress(RuntimeError, OSError, TimeoutError):
                await live.bluez.set_rssi(path, -40 - tick % 50)
                live.ble_changes += 1
        if live.board.scanning.is_set():
            micros = int((time.monotonic() - t0) * 1e6)
            for i in range(SERIAL_LINES):
                n = (tick * SERIAL_LINES + i) % SERIAL_MACS
                try:
                    live.board.advert(bytes([0xC4, 0, 0, 0, 0, n]), random=True,
                                      rssi=-50 - n, micros=micros)
                    live.serial_sent += 1
                except BlockingIOError:
                    live.serial_refused += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DRIVE_S)


async def add_ble_devices(bluez: BluezMock) -> list[str]:
    await bluez.add_adapter("hci0")
    paths = []
    for n in range(BLE_DEVICES):
        kind = "public" if n % 2 else "random"
        address = f"{'00:1A:7D' if n % 2 else 'C4:00:00'}:00:00:{n:02X}"
        paths.append(await bluez.add_device("hci0", address, kind))
    return paths


def agent_config(tmp: Path, central: str, live: Live) -> Path:
    generate_secret(tmp / "site.secret")
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump({
        "detector_id": "bench-mem", "central": [central],
        "secret_file": str(tmp / "site.secret"), "state_dir": str(tmp / "state"),
        "ble_enabled": live.bluez is not None, "ble_adapter": "hci0",
        "serial_enabled": True, "serial_port": str(live.board.link),
        "serial_profile": "nrf52840-dongle",
        "wifi_enabled": live.wifi is not None, "wifi_interface": live.wifi or "none",
        "insecure": True,  # the bench's central is plaintext (TLS is not what this measures)
    }))
    return path


def observe(live: Live, last: dict[str, Any], elapsed: float) -> None:
    sources = {s["name"]: s for s in last.get("sources", [])}
    live.states.update(sources)
    replay_running = sources.get("replay", {}).get("state") == "running"
    for name, s in sources.items():
        if name != "replay" and s.get("sightings_per_minute", 0) > 0:
            if name not in live.first_heard_s:
                live.first_heard_s[name] = elapsed
                live.replay_running_then[name] = replay_running


async def run_agent(tmp: Path, central: str, live: Live, captures: list[Path],
                    ) -> tuple[int, dict[str, Any], float, float]:
    """Run the agent: (peak RSS KiB, last status, seconds to replay+upload, seconds run)."""
    paths = await add_ble_devices(live.bluez) if live.bluez is not None else []
    config = agent_config(tmp, central, live)
    state = tmp / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if live.bluez is not None:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = live.bluez.address
    command = [sys.executable, "-m", "roadside.common.main", "--log-level", "info", "agent", "run",
               "--config", str(config), *(x for c in captures for x in ("--replay", str(c)))]
    live_names = {"serial"} | ({"ble"} if live.bluez is not None else set())
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*command, cwd=REPO, env=env,
                                                stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    logs = asyncio.create_task(read_log(live, proc.stderr, start), name="bench-agent-log")
    stop_driving = asyncio.Event()
    driver = asyncio.create_task(drive(live, paths, stop_driving), name="bench-drive")
    peak, last, replay_s, next_progress = 0, {}, 0.0, start + PROGRESS_S
    try:
        while (elapsed := time.monotonic() - start) < RUN_TIMEOUT_S \
                and proc.returncode is None:
            peak = max(peak, peak_kib(proc.pid))
            if "replay finished" in live.marks and not live.peak_at_replay_end:
                live.peak_at_replay_end = peak
            last = status(state)
            observe(live, last, elapsed)
            replay = live.states.get("replay", {}).get("state")
            if not replay_s and replay in ("finished", "failed") \
                    and last.get("buffer_depth") == 0 and last.get("last_upload_ns"):
                replay_s = elapsed
            heard_all = live_names <= live.first_heard_s.keys()
            if replay_s and elapsed >= MIN_RUN_S \
                    and (heard_all or elapsed - replay_s > LIVE_GRACE_S):
                break
            if time.monotonic() >= next_progress:
                next_progress += PROGRESS_S
                print(f"  {elapsed:5.0f} s  peak {peak / 1024:5.1f} MiB  "
                      f"sightings {last.get('sightings_total', 0):,}  "
                      f"buffer {last.get('buffer_depth', '?')}  sources "
                      + ", ".join(f"{n}:{s['state']}" for n, s in live.states.items()),
                      file=sys.stderr)
            await asyncio.sleep(SAMPLE_S)  # sampling period
        run_s = time.monotonic() - start
        peak = max(peak, peak_kib(proc.pid))
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        while proc.returncode is None:
            peak = max(peak, peak_kib(proc.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), SAMPLE_S)  # sampling period
    finally:
        stop_driving.set()
        await driver
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await logs
    live.exit_code = proc.returncode
    last = status(state) or last  # the agent writes its final figures on exit
    return peak, last, replay_s, run_s


def report_sources(live: Live, captures: list[Path], captures_dir: Path,
                   last: dict[str, Any]) -> None:
    print("sources in the one agent process (state and rate as last reported while running):")
    how = {
        "replay": f"{len(captures)} captures from {captures_dir}, full speed",
        "ble": f"bleak -> BlueZ mock (dbusmock bluez5, private system bus), {BLE_DEVICES} "
               f"devices, {live.ble_changes} RSSI changes",
        "serial": f"pyserial on a pty, fake nRF52840 board, {live.serial_sent:,} adverts sent"
                  + (f" ({live.serial_refused:,} refused: pty full)"
                     if live.serial_refused else ""),
        "wifi": f"monitor interface {live.wifi}",
    }
    for name in ("replay", "ble", "serial", "wifi"):
        if name in live.not_started:
            print(f"  {name:<7} NOT RUN: {live.not_started[name]}")
            continue
        s = live.states.get(name)
        if s is None:
            print(f"  {name:<7} NO STATUS: the agent never reported this source ({how[name]})")
            continue
        heard = live.first_heard_s.get(name)
        when = "" if name == "replay" else (
            "  never heard anything" if heard is None else
            f"  first heard {heard:.0f} s in"
            + (" (replay still running)" if live.replay_running_then.get(name) else ""))
        error = f"  last error: {s['last_error']}" if s.get("last_error") else ""
        rate = "" if name == "replay" else f", {s.get('sightings_per_minute', 0):,.0f}/min"
        print(f"  {name:<7} {s['state']}{rate}, restarts {s.get('restarts', 0)}{when}{error}\n"
              f"          {how[name]}")
    print(f"  all: {last.get('sightings_total', 0):,} sightings, "
          f"{last.get('passes_total', 0):,} passes buffered, "
          f"{last.get('buffer_depth', '?')} left unacknowledged")


def timeline(live: Live) -> str:
    """From the agent's log: were the live sources up while the replay ran?"""
    marks = ", ".join(f"{m} at {t:.1f} s" for m, t in sorted(live.marks.items(),
                                                             key=lambda x: x[1]))
    end = live.marks.get("replay finished")
    ups = [m for m in LOG_MARKS if m.endswith(" up") and m.split()[0] not in live.not_started]
    together = end is not None and all(live.marks.get(m, end + 1) < end for m in ups)
    verdict = ("all sources ran at once until the replay ended" if together else
               "NOT all sources were up while the replay ran")
    problems = f"; {live.log_problems} agent warnings/errors (above)" if live.log_problems else ""
    return f"timeline (agent log): {marks or 'no marks seen'}: {verdict}{problems}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--captures", type=Path,
        default=REPO / "tests" / "data" / "captures",
    )
    args = parser.parse_args()
    captures = sorted(args.captures.glob("*/*.pcap*"))
    if not captures:
        print(f"no captures under {args.captures}", file=sys.stderr)
        return 1
    bare = baseline("pass")
    imports = baseline(IMPORTS)
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp_name, \
            contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        live = Live(bluez=None, board=FakeNrfBoard(tmp / "ttyACM-nrf", blocking=False),
                    wifi=None)
        try:
            live.bluez = stack.enter_context(private_bluez(tmp))
        except BluezUnavailable as exc:
            live.not_started["ble"] = f"BlueZ mock did not start: {exc}"
        live.board.plug()
        stack.callback(live.board.unplug)
        monitors = monitor_interfaces()
        if monitors:
            live.wifi = monitors[0]
        else:
            live.not_started["wifi"] = ("this machine has no monitor-mode interface (no "
                                        "/sys/class/net/*/type of 803), so no WiFi capture")
        central = stack.enter_context(local_central(tmp, retention_days=RETENTION_DAYS))
        peak, last, replay_s, run_s = asyncio.run(
            run_agent(tmp, central.collector_addr, live, captures))
    report_sources(live, captures, args.captures, last)
    print(timeline(live))
    replay_note = (f"replay uploaded after {replay_s:.1f} s" if replay_s
                   else "replay NOT fully uploaded")
    print(f"agent ran {run_s:.1f} s ({replay_note}); exit code {live.exit_code} after SIGTERM")
    mib = 1024.0
    print(f"baseline  bare python interpreter       : {bare / mib:6.1f} MiB peak RSS")
    print(f"baseline  python + the agent's imports  : {imports / mib:6.1f} MiB peak RSS")
    peak_mb = peak * 1024 / 1e6
    print(f"roadside agent run (all sources above)  : {peak / mib:6.1f} MiB peak RSS "
          f"= {peak_mb:.1f} MB (+{(peak - bare) / mib:.1f} MiB over bare python, "
          f"+{(peak - imports) / mib:.1f} MiB over the imports)")
    if live.peak_at_replay_end:
        print(f"  of which reached by the end of the replay: "
              f"{live.peak_at_replay_end / mib:6.1f} MiB")
    # a verdict only from a run that measured what it claims: the agent ran until asked to
    # stop and the replay was uploaded
    measured = live.exit_code == 0 and bool(replay_s)
    verdict = ("meets" if peak_mb <= TARGET_MB else "MISSES") if measured else \
        "NOT MEASURED: the agent did not run through (see above)"
    print(f"target <= {TARGET_MB:.0f} MB: {verdict}")
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
