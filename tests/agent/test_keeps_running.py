"""The agent keeps running: supervised tasks, a watchdog fed only while they all work, a
poison row that blocks nothing, a pass that cannot be encoded that takes nothing with it."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from pathlib import Path

import etcd3
import pytest

from roadside.agent.buffer import DiskBuffer
from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.runner import AgentRunner
from roadside.agent.tasks import TaskSupervisor
from roadside.central.api.server import RunningCentral
from tests.agent.test_uplink import make_passes, rows_of, stored_keys
from tests.fixtures.agent import FakeSource, MakeConfig, live, running_agent, sighting
from tests.fixtures.polling import eventually

S = 1_000_000_000


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


async def test_a_failing_task_is_logged_restarted_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    healthy_while_failing: list[bool] = []
    recovered = asyncio.Event()
    tasks = TaskSupervisor()

    async def flaky(beat: object) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise OSError(28, "No space left on device")
        recovered.set()
        await asyncio.Event().wait()  # runs on until stopped

    tasks.add("flaky", flaky)
    await asyncio.wait_for(recovered.wait(), 10)
    [state] = tasks.states()
    assert (state.name, state.state, state.restarts) == ("flaky", "running", 1)
    assert "No space left on device" in state.last_error
    assert "task flaky failed" in caplog.text and "No space left" in caplog.text
    healthy_while_failing.append(tasks.healthy())
    await tasks.stop()
    assert healthy_while_failing == [True] and tasks.states()[0].state == "stopped"


async def test_watchdog_is_not_fed_while_a_task_keeps_failing(
    central: RunningCentral, agent_config: MakeConfig, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"roadside-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # a ping every 0.05 s
    config = agent_config(central=central.collector_addr)
    pings: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                pings.append(sock.recv(4096))
            except BlockingIOError:
                return

    async def broken(beat: object) -> None:
        raise RuntimeError("broken on purpose")

    try:
        async with running_agent(config, FakeSource()) as runner:
            await eventually(lambda: (drain(), b"WATCHDOG=1" in pings)[1], 10, "first ping")
            runner.tasks.add("probe", broken)
            await eventually(lambda: "not feeding the systemd watchdog" in caplog.text, 10,
                             "the watchdog refused")
            drain()
            pings.clear()
            await asyncio.sleep(0.3)  # several ping periods: none may come
            drain()
            assert b"WATCHDOG=1" not in pings
            assert "probe restarting" in caplog.text
            states = {t.name: t for t in (await runner.status()).tasks}
            probe = states["probe"]
            assert probe.restarts >= 1 and "broken on purpose" in probe.last_error
            assert {"uplink", "tick", "status"} <= set(states)
    finally:
        sock.close()


async def test_an_undecodable_row_does_not_stop_the_rows_behind_it(
    central: RunningCentral, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr, batch_max_passes=1000)
    passes = make_passes(20_535, start_ns=time.time_ns() - 30_000 * S)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with DiskBuffer(config.state_dir / "buffer.db", 10**9) as buf:
        buf.append([(1, b"\xff\xff\xff\xff not a protobuf")])  # first in line
        buf.append(rows_of(passes))
    runner = AgentRunner(config, [FakeSource("fake", [])])
    await runner.run(until_drained=True, drain_timeout_s=60)
    got = stored_keys(etcd_client, namespace, "det-test")
    assert len(got) == len(passes)
    [report] = central.store.statuses(["det-test"])
    assert report["set_aside_rows"] == "1"


async def test_a_pass_that_cannot_be_encoded_takes_no_other_with_it(
    central: RunningCentral, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = time.time_ns()
    good = [sighting(bytes([2, 0, 0, 0, 0, i]), now - 60 * S) for i in range(20)]
    bad = Sighting(b"\x02\x00\x00\x00\x01\x00", 2**64, -60, RadioKind.WIFI,
                   AddressKind.WIFI_GLOBAL, "fake", 6)  # a clock gone mad
    config = agent_config(central=central.collector_addr)
    runner = AgentRunner(config, [FakeSource("fake", [*good[:10], bad, *good[10:]])],
                         event_time=True)
    with caplog.at_level(logging.ERROR):
        await runner.run(until_drained=True, drain_timeout_s=60)
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 20
    assert runner.pipeline.counts().lost == 1
    assert "could not be encoded" in caplog.text


def test_tasks_run_under_the_runner_are_listed_in_status_json(tmp_path: Path) -> None:
    from roadside.agent.status import AgentStatus, read_status, write_status
    from roadside.agent.tasks import TaskState

    status = AgentStatus("d1", 1, 0, 0, 0.0, 0, tasks=(TaskState("uplink", "running", 2, "x"),),
                         lost_passes=3, set_aside_rows=4, over_budget_sightings=5)
    write_status(tmp_path, status)
    assert read_status(tmp_path) == status
