"""A full disk (a 2 MiB tmpfs, as root) degrades the agent, it does not stop it: status still
reaches central, passes wait in RAM, a replay waits, and everything goes out once there is
room again."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import etcd3
import pytest

from roadside.agent.runner import AgentRunner
from roadside.agent.sources.base import Emit
from roadside.central.api.server import RunningCentral
from tests.agent.test_uplink import stored_keys
from tests.fixtures.agent import FakeSource, MakeConfig, live, running_agent, sighting
from tests.fixtures.polling import eventually

S = 1_000_000_000


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for a full disk")
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free block of `disk`; the returned file gives them back when deleted."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


async def test_full_disk_status_still_reaches_central_and_passes_wait_in_ram(
    central: RunningCentral, agent_config: MakeConfig, small_disk: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr, state_dir=small_disk / "state",
                          status_interval_s=0.2, pass_gap_s=0.2)
    source = FakeSource()
    async with running_agent(config, source) as runner:
        await eventually(lambda: central.store.statuses(["det-test"]), 10, "a first report")
        filler = fill(small_disk)
        full_at = time.time_ns()
        now = time.time_ns()
        for i in range(50):
            source.inject(sighting(bytes([0, 0x1b, 0x63, 0, 0, i]), now - 30 * S + i))
        await eventually(lambda: runner.pipeline.counts().pending == 50, 10,
                         "the passes waiting in RAM")

        def fresh_report() -> bool:
            [report] = central.store.statuses(["det-test"])
            return int(report["reported_ns"]) > full_at

        await eventually(fresh_report, 10, "a status report sent while the disk is full")
        assert not stored_keys(etcd_client, namespace, "det-test")
        filler.unlink()  # room again: the passes go to the buffer, then to central
        await eventually(lambda: len(stored_keys(etcd_client, namespace, "det-test")) == 50,
                         20, "every pass delivered")
        assert runner.pipeline.counts().lost == 0


class GatedSource:
    """A finite source that emits its sightings once `go` is set."""

    name = "gated"
    event_time = True

    def __init__(self, sightings: list) -> None:  # type: ignore[type-arg]
        self.sightings = sightings
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self.started.set()
        await self.go.wait()
        for s in self.sightings:
            emit(s)


async def test_a_replay_waits_for_the_disk_instead_of_exiting(
    central: RunningCentral, agent_config: MakeConfig, small_disk: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = agent_config(central=central.collector_addr, state_dir=small_disk / "state")
    now = time.time_ns()
    source = GatedSource([sighting(bytes([0, 0x1b, 0x63, 0, 1, i]), now - 60 * S + i * S)
                          for i in range(200)])
    runner = AgentRunner(config, [source], event_time=True)
    replay = asyncio.create_task(runner.run(until_drained=True, drain_timeout_s=60))
    await asyncio.wait_for(source.started.wait(), 10)
    filler = fill(small_disk)
    source.go.set()
    await eventually(lambda: "passes wait in RAM" in caplog.text, 20, "the replay waiting")
    assert not replay.done()
    filler.unlink()
    await asyncio.wait_for(replay, 60)
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 200


def test_fill_leaves_no_room(small_disk: Path) -> None:
    fill(small_disk)
    fd = os.open(small_disk / "more", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as caught:
            os.write(fd, b"x" * 8192)
    finally:
        os.close(fd)
    assert caught.value.errno == errno.ENOSPC


async def test_an_agent_starts_on_a_full_disk_and_catches_up_once_there_is_room(
    central: RunningCentral, agent_config: MakeConfig, small_disk: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    filler = fill(small_disk)  # full before the agent ever ran: no buffer file can be made
    config = agent_config(central=central.collector_addr, state_dir=small_disk / "state",
                          status_interval_s=0.2, pass_gap_s=0.2)
    source = FakeSource()
    async with running_agent(config, source) as runner:
        assert "passes wait in RAM until it can be opened" in caplog.text
        await eventually(lambda: central.store.statuses(["det-test"]), 10,
                         "a status report from the degraded agent")
        now = time.time_ns()
        for i in range(20):
            source.inject(sighting(bytes([0, 0x1b, 0x63, 0, 2, i]), now - 30 * S + i))
        await eventually(lambda: runner.pipeline.counts().pending == 20, 10,
                         "the passes waiting in RAM")
        filler.unlink()
        await eventually(lambda: len(stored_keys(etcd_client, namespace, "det-test")) == 20,
                         20, "every pass delivered once there was room")
        assert runner.pipeline.counts().lost == 0
