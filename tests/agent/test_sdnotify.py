"""sd_notify against a real AF_UNIX datagram socket, bound the way systemd binds it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadside.agent import sdnotify

RECV_TIMEOUT_S = 5.0


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A datagram socket bound as systemd binds NOTIFY_SOCKET: a path, or '@' abstract."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(RECV_TIMEOUT_S)
    if request.param == "path":
        address = env_value = str(tmp_path / "notify")
    else:
        name = f"roadside-test-{uuid.uuid4().hex}"
        address, env_value = "\0" + name, "@" + name
    sock.bind(address)
    yield sock, {"NOTIFY_SOCKET": env_value}
    sock.close()


def test_messages_arrive(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    assert sdnotify.ready(env)
    assert sock.recv(4096) == b"READY=1"
    assert sdnotify.watchdog(env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.status("uploading\n12 passes buffered", env)
    assert sock.recv(4096) == b"STATUS=uploading 12 passes buffered"
    assert sdnotify.stopping(env)
    assert sock.recv(4096) == b"STOPPING=1"


def test_reads_notify_socket_from_the_process_environment(
    notify_socket: tuple[socket.socket, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, env = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    assert sdnotify.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.watchdog({}) is False
    assert sdnotify.watchdog_interval({}) is None


def test_missing_socket_is_reported_not_raised(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone")}
    assert sdnotify.ready(env) is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another pid
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval(env) == expected
