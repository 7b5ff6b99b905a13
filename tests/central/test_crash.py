"""A laptop central killed outright (SIGKILL: the OOM killer, a crash) takes its embedded etcd
with it, and started again it comes up on the same data."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from tests.fixtures.polling import wait_until
from tests.fixtures.serve import kill, start_serve, wait_serving


def listening(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def test_a_killed_central_takes_its_etcd_along_and_starts_again(tmp_path: Path) -> None:
    args = ("--host", "127.0.0.1", "--collector-port", "0", "--query-port", "0",
            "--health-port", "0", "--embedded-etcd-port", "0", "--data-dir",
            str(tmp_path / "central"))
    first = start_serve(tmp_path / "first.log", *args)
    try:
        etcd = wait_serving(first, tmp_path / "first.log").etcd
        assert listening(etcd)
        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_until(lambda: not listening(etcd), within_s=30, what="the orphaned etcd ending")
    finally:
        kill(first)
    again = start_serve(tmp_path / "again.log", *args)
    try:
        serving = wait_serving(again, tmp_path / "again.log")
        assert listening(serving.etcd)
    finally:
        kill(again)
