"""Every example in every `--help` and every command of the README's quickstart runs as written
beside a laptop central: one working directory, in order, through a shell, with nothing
configured but free ports (a laptop central on this machine keeps its own).

Examples under other headings ("in production:", "on a detector box:") name hosts and paths
of a real deployment and are not run here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadside.common.main import GROUPS, build_parser

pytestmark = [pytest.mark.wheel, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180.0
READY_TIMEOUT_S = 60.0
POLL_S = 0.2
# help examples run group by group in this order (a later one may use what an earlier made)
ORDER = ("pki", "apikey", "links", "query", "alerts", "audit", "archive", "report", "shards",
         "agent", "sim", "central")
# commands that run until Ctrl-C, and what they print once they serve
LONG_RUNNING = {
    "roadside central serve": re.compile(r"central serving"),
    "roadside central worker": re.compile(r"travel-time worker \S+ started"),
    "roadside central http": re.compile(r"HTTP feeds on"),
    "roadside agent run": re.compile(r"agent \S+ running"),
    "roadside query tail": re.compile(r"^\{", re.MULTILINE),  # its first event
}
FREE_PORTS = {f"ROADSIDE_{name}": "0" for name in (
    "COLLECTOR_PORT", "QUERY_PORT", "HEALTH_PORT", "HTTP_PORT", "METRICS_PORT", "ENROLL_PORT",
    "EMBEDDED_ETCD_PORT")}


def commands_in(text: str) -> Iterator[tuple[str, str]]:
    """(heading, command) for every `  roadside ...` line of an epilog or code block,
    continuation lines joined; the heading is the unindented text above it."""
    heading, command = "", ""
    for line in text.splitlines():
        if command:
            command += " " + line.strip()
        elif line.startswith("  roadside ") or line.startswith("roadside "):
            command = line.strip()
        elif line.strip() and not line.startswith(" "):
            heading = line.strip() if heading.endswith(":") or not heading \
                else f"{heading} {line.strip()}"
            continue
        else:
            continue
        if command.endswith("\\"):
            command = command[:-1].rstrip()
            continue
        yield heading, command
        command = ""


def help_examples() -> list[str]:
    found = []
    for group in ORDER:
        top = build_parser(group)
        (groups,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
        (subs,) = [a for a in groups.choices[group]._actions
                   if isinstance(a, argparse._SubParsersAction)]
        for parser in subs.choices.values():
            found += [c for h, c in commands_in(parser.epilog or "") if h.startswith("example")]
    return found


def readme_quickstart() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [c.split("#", 1)[0].strip() for block in blocks for _, c in commands_in(block)]


def test_the_example_lists_are_what_users_read() -> None:
    assert set(GROUPS) == set(ORDER)
    readme = readme_quickstart()
    assert readme[0] == "roadside central serve &" and len(readme) >= 5
    assert any(c.startswith("roadside agent replay") for c in readme)
    assert len(help_examples()) >= 40


class Runner:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.background: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.done: set[str] = set()

    def run(self, command: str) -> None:
        background = command.endswith("&")
        command = command.rstrip("& ")
        if command in self.done:  # the README and a --help show the same command
            return
        self.done.add(command)
        long_running = next((p for c, p in LONG_RUNNING.items() if command.startswith(c)), None)
        if command.startswith(("roadside query travel-times", "roadside query route")):
            self._windows_published()
        if long_running is None:
            done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env,
                                  capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            assert "Traceback" not in done.stderr, f"{command}\n{done.stderr}"
            return
        log = self.cwd / f"example-{len(self.done)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.cwd,
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self._wait_ready(command, proc, log, long_running)
        if background:
            self.background.append((command, proc, log))
        else:
            self._stop(command, proc, log)

    def _windows_published(self) -> None:
        """A person reads the upload's summary first; the worker publishes the first windows
        meanwhile. Wait for them (deadline-bounded) before a travel-time example."""
        end = time.monotonic() + READY_TIMEOUT_S
        ask = ["roadside", "query", "travel-times", "--from", "north-gate", "--to", "mill-bridge",
               "--since", "1h", "--format", "json"]
        while time.monotonic() < end:
            done = subprocess.run(ask, cwd=self.cwd, env=self.env, capture_output=True,
                                  text=True, timeout=RUN_TIMEOUT_S)
            windows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
            # a window the uploaded passes reached (with figures, or suppressed at night)
            if done.returncode == 0 and any(not w["no_data"] for w in windows):
                return
            time.sleep(POLL_S)  # poll interval of a deadline-bounded wait
        pytest.fail("the worker published no travel-time windows within "
                    f"{READY_TIMEOUT_S:g} s of the upload")

    def _wait_ready(self, command: str, proc: subprocess.Popen[bytes], log: Path,
                    ready: re.Pattern[str]) -> None:
        end = time.monotonic() + READY_TIMEOUT_S
        while not ready.search(log.read_text(errors="replace")):
            if proc.poll() is not None:
                pytest.fail(f"{command} exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > end:
                proc.kill()
                pytest.fail(f"{command} did not come up in {READY_TIMEOUT_S:g} s:\n"
                            f"{log.read_text()}")
            time.sleep(POLL_S)  # poll interval of a deadline-bounded wait

    def _stop(self, command: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"{command} did not stop on Ctrl-C")
        text = log.read_text(errors="replace")
        assert code in (0, 130) and "Traceback" not in text, f"{command} ({code}):\n{text}"

    def stop_all(self) -> None:
        for command, proc, log in reversed(self.background):
            self._stop(command, proc, log)


@pytest.mark.timeout(300)
def test_every_example_runs_as_written_beside_a_laptop_central(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, **FREE_PORTS, "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    runner = Runner(work, env)
    try:
        for command in readme_quickstart() + help_examples():
            runner.run(command)
    finally:
        runner.stop_all()
    # what the examples made is there: captures, a plot, a recording, an archive
    assert list((work / "captures").glob("*.pcap"))
    assert (work / "day.png").read_bytes()[:4] == b"\x89PNG"
    assert (work / "box-1.jsonl").stat().st_size > 0
