"""systemd's sd_notify protocol, without dependencies.

systemd passes NOTIFY_SOCKET (a path, or '@name' for the abstract namespace) to a
Type=notify service; the service sends newline-separated KEY=VALUE datagrams to it.
Outside systemd (no NOTIFY_SOCKET) every call is a no-op that returns False.

    from roadside.agent import sdnotify
    sdnotify.ready()
    interval = sdnotify.watchdog_interval()  # seconds between pings, or None
    sdnotify.watchdog()
    sdnotify.stopping()

Sending is a non-blocking datagram to a local socket: cheap enough for the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

# Ping the watchdog this often relative to WatchdogSec (systemd recommends half).
WATCHDOG_FRACTION = 0.5
SEND_TIMEOUT_S = 1.0  # a datagram to a local socket; never blocks in practice


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]  # abstract namespace
    return path


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify message; True when sent, False outside systemd or on error."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT_S)
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", address.lstrip("\0"), exc)
        return False
    return True


def ready(env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd start-up is complete (Type=notify)."""
    return notify("READY=1", env)


def watchdog(env: Mapping[str, str] | None = None) -> bool:
    """Ping the watchdog (WatchdogSec): the service is alive."""
    return notify("WATCHDOG=1", env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the service is shutting down."""
    return notify("STOPPING=1", env)


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """Set the one-line status `systemctl status` shows."""
    line = " ".join(text.split())  # one line: newlines would start a new assignment
    return notify(f"STATUS={line}", env)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings, or None when systemd's watchdog is off for us.

    From WATCHDOG_USEC (and WATCHDOG_PID, which must be our pid when set).
    """
    environ = os.environ if env is None else env
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number", usec)
        return None
    if value <= 0:
        return None
    return value / 1_000_000 * WATCHDOG_FRACTION
