"""AgentRunner around the edges: systemd notifications, wire round trips, a failing source."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadside.agent.errors import AgentError
from roadside.agent.model import AddressKind, DeviceClass, Pass, RadioKind
from roadside.agent.passes import pass_ulid, ulid_prefix
from roadside.agent.runner import AgentRunner, DrainTimeout
from roadside.agent.sources.base import Emit, SourceError
from roadside.agent.wire import pass_to_row, row_to_pb
from roadside.common.kinds import ADDRESS_TO_PB, CLASS_TO_PB, RADIO_TO_PB
from roadside.proto.v1 import types_pb2
from tests.fixtures.agent import (
    FakeSource,
    MakeConfig,
    far_boundary_hour,
    live,
    running_agent,
    sighting,
)
from tests.fixtures.polling import eventually


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET, watchdog on (2 s)."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def test_systemd_ready_watchdog_stopping(
    notify_socket: socket.socket, agent_config: MakeConfig
) -> None:
    messages: list[str] = []
    async with running_agent(agent_config(), FakeSource("fake")):
        await eventually(lambda: messages.extend(received(notify_socket)) is None
                         and "READY=1" in messages and "WATCHDOG=1" in messages,
                         what="READY and WATCHDOG")
    messages += received(notify_socket)
    assert "STOPPING=1" in messages
    assert messages.index("READY=1") < messages.index("STOPPING=1")


def test_a_buffer_row_is_sent_as_the_pass_it_was() -> None:
    t = time.time_ns()
    prefix = ulid_prefix("det-a")
    for radio in RadioKind:
        for kind in AddressKind:
            for cls in DeviceClass:
                p = Pass("0a" * 16, t, t + 9, t + 3, -77, 4, radio, kind, t + 3,
                         kind is AddressKind.WIFI_LOCAL, radio is RadioKind.BLE, cls)
                m = row_to_pb(pass_to_row(p), prefix)
                assert (m.ulid, m.device_id) == (pass_ulid("det-a", p.device_id, t), p.device_id)
                assert (m.first_ns, m.last_ns, m.peak_ns, m.timestamp_ns) == (t, t + 9, t + 3,
                                                                              t + 3)
                assert (m.peak_rssi, m.count, m.tagged, m.alias) == (-77, 4, p.tagged, p.alias)
                assert (m.radio, m.address_kind, m.device_class) == (
                    RADIO_TO_PB[radio], ADDRESS_TO_PB[kind], CLASS_TO_PB[cls])


def test_a_row_written_before_packing_is_still_sent() -> None:
    old = types_pb2.Pass(ulid="01HF7YAT3VNE3ST2TRR79E03H9", device_id="0a" * 16, first_ns=5,
                         count=2, radio=types_pb2.RADIO_KIND_BLE)
    assert row_to_pb(old.SerializeToString(), ulid_prefix("det-a")) == old


@pytest.mark.parametrize("row", [b"", b"\x01short", b"\x0a\xff\xff", b"\x02" + b"\0" * 73,
                                 b"\x01" + b"\xff" * 32 + b"\0" * 41])
def test_a_row_that_is_not_a_pass_is_refused_with_a_reason(row: bytes) -> None:
    with pytest.raises(ValueError, match="not a"):
        row_to_pb(row, ulid_prefix("det-a"))


class BrokenSource:
    name = "broken"

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        raise SourceError("capture file is truncated")


async def test_finite_run_survives_a_failing_source(agent_config: MakeConfig) -> None:
    # central unreachable (port 1): the drain deadline passes with passes still waiting
    good = FakeSource("fake", [sighting(bytes([0, 0x1A, 0x7D, 0, 0, 1]), time.time_ns())])
    runner = AgentRunner(agent_config(), [BrokenSource(), good], event_time=True)
    with pytest.raises(DrainTimeout, match="1 passes not acknowledged") as failed:
        await runner.run(until_drained=True, drain_timeout_s=0.5)
    # the message says why: central's address and the gRPC status
    assert "; the last upload error: 127.0.0.1:1: UNAVAILABLE" in str(failed.value)
    states = {s.name: s for s in runner.source_states()}
    assert states["broken"].state == "failed"
    assert "truncated" in states["broken"].last_error
    assert states["fake"].state == "finished"
    assert runner.progress().backlog == 1  # kept in the buffer for the next run


def test_runner_needs_a_detector_id(agent_config: MakeConfig) -> None:
    with pytest.raises(AgentError, match="detector_id is not set"):
        AgentRunner(agent_config(detector_id=""), [])


@pytest.mark.parametrize("bad", ["Bad/x", "north gate", "../etc", "-lead"])
def test_runner_refuses_a_detector_id_central_would_refuse(agent_config: MakeConfig,
                                                          bad: str) -> None:
    with pytest.raises(AgentError, match=r"detector_id: .* is not a detector id"):
        AgentRunner(agent_config(detector_id=bad), [])


async def test_pipeline_keeps_passes_while_buffer_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roadside.agent import pipeline as pipeline_module
    from roadside.agent.buffer import DiskBuffer, DiskBufferError
    from roadside.agent.config import AgentConfig
    from roadside.agent.privacy import DeviceHasher

    monkeypatch.setattr(pipeline_module, "MAX_PENDING_PASSES", 3)
    buffer = DiskBuffer(tmp_path / "b.db", 10**9)  # not opened yet: writes fail
    pipe = pipeline_module.Pipeline(
        AgentConfig(detector_id="d1"),
        DeviceHasher(b"s" * 32, boundary_hour=far_boundary_hour()), buffer
    )
    t = time.time_ns()
    for i in range(5):
        pipe.on_sighting(sighting(bytes([0, 0x1A, 0x7D, 0, 0, i]), t))
    pipe.close_all()
    with pytest.raises(DiskBufferError):
        await pipe.flush()
    counts = pipe.counts()
    assert (counts.pending, counts.lost) == (3, 2)  # bounded, and the loss is counted
    buffer.open()
    assert await pipe.flush() == 3 and buffer.depth() == 3
    buffer.close()


@pytest.mark.parametrize(("setting", "value"), [
    ("pass_gap_s", 0.0), ("batch_max_passes", 0), ("backoff_max_s", -1.0), ("central", ()),
])
def test_runner_refuses_bad_settings_by_name(
    agent_config: MakeConfig, setting: str, value: object
) -> None:
    with pytest.raises(AgentError, match=f"^{setting}: "):
        AgentRunner(agent_config(**{setting: value}), [])
