"""Every file or directory holding device ids or keys is private (0700 directories, 0600 files)
whoever writes it, whatever the umask: an agent's buffer, the archive, recordings, the
simulator's truth, a laptop central's data."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadside.agent.recording import RecordingWriter
from roadside.central.store import archive
from roadside.common.identity import Identity
from roadside.common.main import main
from tests.central.query_helpers import make_pass
from tests.fixtures.central import StartCentral
from tests.fixtures.trust import Site

S = 1_000_000_000


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The usual 022: files would be world-readable unless made private on purpose."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(root: Path, files: str = "*") -> None:
    """Every directory under `root` 0700, and the files matching `files` 0600."""
    for path in [root, *root.rglob("*")]:
        if path.is_dir() or path.match(files):
            want = 0o700 if path.is_dir() else 0o600
            assert mode(path) & 0o077 == 0, f"{path}: {oct(mode(path))}, want {oct(want)}"


def test_a_replays_buffer_is_private(start_test_central: StartCentral, site: Site,
                                     captures_dir: Path, tmp_path: Path) -> None:
    central = start_test_central()
    state = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "agent", "replay", "--detector", "d1",
         "--central", central.collector_addr, "--secret-file", str(tmp_path / "site.secret"),
         "--state-dir", str(state), "--fast", "--shift-to-now", "--quiet",
         str(captures_dir / "wifi" / "probing-patterns_S21Ultra-M.pcap")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **site.env(Identity("detector", "d1"))})
    assert done.returncode == 0, done.stderr
    assert (state / "buffer.db").exists()
    assert_private(state, "buffer.db*")  # status.json holds no device id
    assert mode(tmp_path / "site.secret") == 0o600


def test_the_archive_is_private(start_test_central: StartCentral, tmp_path: Path) -> None:
    central = start_test_central()
    day = archive.day_of(time.time_ns() - 86_400 * S)  # yesterday: a closed day
    start, _ = archive.day_span(day)
    central.store.put_passes([make_pass("gate", start + i * 60 * S) for i in range(10)])
    root = tmp_path / "archive"
    assert main(["archive", "export", "--day", day, "--dir", str(root), "--etcd-endpoints",
                 central.etcd_endpoints[0], "--namespace", central.config.namespace,
                 "--pki-dir", str(tmp_path / "none")]) == 0
    assert list(root.rglob("*.parquet"))
    assert_private(root)


def test_recordings_and_the_simulators_truth_are_private(tmp_path: Path) -> None:
    RecordingWriter(tmp_path / "box.jsonl", {"detector_id": "box"}).close()
    assert mode(tmp_path / "box.jsonl") == 0o600
    assert main(["sim", "traffic", "--duration", "5m", "--truth", str(tmp_path / "t.json"),
                 "--quiet"]) == 0
    assert mode(tmp_path / "t.json") == 0o600


def test_a_laptop_centrals_data_is_private(tmp_path: Path) -> None:
    from tests.fixtures.serve import kill, start_serve, wait_serving

    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    log = tmp_path / "serve.log"
    proc = start_serve(log, "--host", "127.0.0.1", "--collector-port", "0", "--query-port",
                       "0", "--health-port", "0", "--embedded-etcd-port", "0", env=env)
    try:
        wait_serving(proc, log)
        data = tmp_path / "xdg" / "roadside" / "central"
        for path in (data / "pki", data / "etcd", data / "central.json",
                     data / "pki" / "ca.key", data / "pki" / "operator-admin.key"):
            assert mode(path) & 0o077 == 0, f"{path}: {oct(mode(path))}"
    finally:
        kill(proc)
