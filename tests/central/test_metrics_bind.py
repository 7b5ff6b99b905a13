"""Metrics listen on loopback unless configured otherwise (central, worker, agent)."""

from __future__ import annotations

from pathlib import Path

from roadside.agent.config import AgentConfig
from roadside.central.config import CentralConfig
from roadside.central.traveltime.config import TravelTimeConfig
from tests.fixtures.central import StartCentral


def listening_address(port: int) -> str:
    """The local address the kernel shows for a listening TCP socket on `port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                return address
    raise AssertionError(f"nothing listens on {port}")


def test_central_metrics_listen_on_loopback_by_default(start_test_central: StartCentral) -> None:
    central = start_test_central(metrics=True, host="0.0.0.0")  # the servers on every address
    assert central._metrics_server is not None
    assert listening_address(central._metrics_server.port) == "0100007F"  # 127.0.0.1


def test_every_metrics_default_is_loopback() -> None:
    assert CentralConfig().metrics_host == TravelTimeConfig().metrics_host == "127.0.0.1"
    assert AgentConfig().metrics_host == "127.0.0.1"
