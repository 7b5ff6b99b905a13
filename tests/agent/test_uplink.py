"""Uplink and AgentRunner against a real central (gRPC on port 0, real etcd)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import etcd3
import pytest

from roadside.agent.buffer import DiskBuffer
from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind, Pass, RadioKind
from roadside.agent.passes import PassBuilder, pass_ulid
from roadside.agent.runner import AgentRunner
from roadside.agent.uplink import Uplink, UplinkCounts
from roadside.agent.wire import pass_to_row
from roadside.central.api.server import RunningCentral
from tests.fixtures.agent import FakeSource, MakeConfig, live, running_agent, sighting
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import eventually
from tests.fixtures.stored import passes_in

S = 1_000_000_000


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


def make_passes(n: int, detector: str = "det-test", start_ns: int | None = None) -> list[Pass]:
    t0 = start_ns if start_ns is not None else time.time_ns() - 3600 * S
    builder = PassBuilder(detector)
    out: list[Pass] = []
    for i in range(n):
        out += builder.add(
            f"{i:032x}", t0 + i * S, -60 - i % 30, RadioKind.WIFI, AddressKind.WIFI_GLOBAL
        )
    return out + builder.flush()


def pass_names(passes: list[Pass], detector: str = "det-test") -> set[str]:
    """The passes' etcd key names as central stores them one a key: ULID.device."""
    return {f"{pass_ulid(detector, p.device_id, p.first_ns)}.{p.device_id}" for p in passes}


def stored_keys(client: etcd3.MultiEndpointEtcd3Client, namespace: str, detector: str) -> set[str]:
    return set(passes_in(client, namespace, detector))


async def upload_all(
    config: AgentConfig, path: Path, passes: list[Pass], deadline_s: float = 30.0
) -> tuple[bool, UplinkCounts, int]:
    """Buffer `passes` at `path`, drain them with an Uplink: (drained, counts, depth left)."""
    buf = buffer_with(path, passes)
    uplink = Uplink(config, buf)
    try:
        drained = await uplink.drain(deadline_s)
        return drained, uplink.counts(), buf.depth()
    finally:
        await uplink.close()
        buf.close()


def buffer_with(path: Path, passes: list[Pass]) -> DiskBuffer:
    buf = DiskBuffer(path, 10**9).open()
    buf.append(rows_of(passes))
    return buf


def rows_of(passes: list[Pass]) -> list[tuple[int, bytes]]:
    """The buffer's rows of `passes`, as the pipeline writes them."""
    return [(p.timestamp_ns, pass_to_row(p)) for p in passes]


@contextlib.asynccontextmanager
async def running_uplink(config: AgentConfig, buf: DiskBuffer) -> AsyncIterator[Uplink]:
    """An Uplink running on `buf` until the block ends; then stopped, and `buf` closed."""
    uplink = Uplink(config, buf)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        yield uplink
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        buf.close()


async def test_upload_acks_and_deletes(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, tmp_path: Path,
) -> None:
    config = agent_config(central=central.collector_addr, batch_max_passes=40)
    passes = make_passes(100)
    drained, counts, left = await upload_all(config, tmp_path / "b.db", passes)
    assert drained and left == 0 and counts.passes_sent == 100 and counts.uploads == 3
    assert counts.last_success_ns > 0
    got = stored_keys(etcd_client, namespace, "det-test")
    assert {k.rsplit("/", 1)[1] for k in got} == pass_names(passes)


async def test_central_down_then_back_buffer_drains(
    start_test_central: StartCentral, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, tmp_path: Path,
) -> None:
    first = await asyncio.to_thread(start_test_central)
    port = first.collector_port
    await asyncio.to_thread(first.stop, 0)  # central is down before the agent starts
    config = agent_config(central=f"127.0.0.1:{port}", batch_max_passes=25)
    buf = buffer_with(tmp_path / "b.db", make_passes(60))
    uplink = Uplink(config, buf)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop), name="test-uplink")
    await eventually(lambda: uplink.counts().failures >= 3, what="failed uploads")
    assert buf.depth() == 60  # nothing acknowledged, nothing lost
    await asyncio.to_thread(start_test_central, collector_port=port)  # central is back
    await eventually(lambda: buf.depth() == 0, what="the buffer to drain")
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 60
    stop.set()
    await task
    buf.close()


async def test_failover_to_second_endpoint(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, tmp_path: Path,
) -> None:
    dead = "127.0.0.1:1"  # nothing listens there
    config = agent_config(central=(dead, central.collector_addr))
    drained, counts, _ = await upload_all(config, tmp_path / "b.db", make_passes(30))
    assert drained and counts.failures >= 1 and counts.endpoint == central.collector_addr
    assert dead in counts.last_error
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 30


async def test_drain_backs_off_between_failed_attempts(
    agent_config: MakeConfig, tmp_path: Path,
) -> None:
    config = agent_config(central="127.0.0.1:1")  # nothing listens there
    drained, counts, left = await upload_all(config, tmp_path / "b.db", make_passes(5),
                                             deadline_s=2.0)
    assert not drained and left == 5
    # backoff 0.05 s doubling to 0.5 s: a handful of attempts in 2 s, not a busy loop
    assert 1 <= counts.failures <= 12


async def test_an_undecodable_row_is_set_aside_and_the_rest_sent_at_once(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, tmp_path: Path,
) -> None:
    config = agent_config(central=central.collector_addr)
    buf = DiskBuffer(tmp_path / "b.db", 10**9).open()
    buf.append([(1, b"\xff\xff not a pass")])
    buf.append(rows_of(make_passes(5)))
    uplink = Uplink(config, buf)
    try:
        assert await uplink.upload_once() == 5  # sent in the same attempt, not a failure
        assert uplink.counts().failures == 0
        assert buf.depth() == 0 and buf.stats().set_aside == 1
    finally:
        await uplink.close()
        buf.close()
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 5


async def test_invalid_pass_is_isolated_and_dropped(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, tmp_path: Path,
) -> None:
    config = agent_config(central=central.collector_addr)
    good = make_passes(10)
    ancient = make_passes(1, start_ns=time.time_ns() - 400 * 86400 * S)  # beyond retention
    drained, counts, _ = await upload_all(config, tmp_path / "b.db", good[:5] + ancient + good[5:])
    assert drained and counts.rejected == 1
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 10


async def test_runner_finite_source_until_drained(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr)
    t0 = time.time_ns() - 600 * S
    macs = [bytes([0x00, 0x1A, 0x7D, 0, 0, i]) for i in range(20)]
    # each device heard 3 times within a second, then again after 60 s: 2 passes each
    sightings = [sighting(m, t0 + k * S // 4) for m in macs for k in range(3)]
    sightings += [sighting(m, t0 + 60 * S) for m in macs]
    sightings += [sighting(bytes.fromhex("1a0000000001"), t0, kind=AddressKind.BLE_NON_RESOLVABLE)]
    sightings.sort(key=lambda s: s.t_ns)
    runner = AgentRunner(config, [FakeSource("fake", sightings)], event_time=True)
    await runner.run(until_drained=True, drain_timeout_s=30)
    progress = runner.progress()
    assert progress.passes == 40 and progress.backlog == 0 and progress.acknowledged == 40
    assert progress.dropped_by_policy == 1  # non-resolvable BLE: dropped by default policy
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 40
    status = (Path(config.state_dir) / "status.json").read_text()
    assert '"buffer_depth": 0' in status


async def test_runner_live_stop_flushes_open_passes(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr, pass_gap_s=3600)
    source = FakeSource("fake")
    async with running_agent(config, source) as runner:
        now = time.time_ns()
        for i in range(5):
            source.inject(sighting(bytes([0, 0x1A, 0x7D, 1, 2, i]), now))
        await eventually(lambda: runner.progress().open_passes == 5, what="open passes")
    # leaving the block stopped the agent with the passes still open (gap 1 h):
    # shutdown must have closed and uploaded them
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 5


async def test_runner_reports_status_to_central(
    central: RunningCentral, agent_config: MakeConfig,
) -> None:
    config = agent_config(central=central.collector_addr, status_interval_s=3600)
    reports: list[dict[str, object]] = []

    def reported() -> bool:
        reports[:] = central.store.statuses(["det-test"])
        return bool(reports)

    async with running_agent(config, FakeSource("fake")):
        await eventually(reported, what="a status report at central", in_thread=True)
    report = reports[0]
    assert report["detector_id"] == "det-test" and report["agent_version"]
    assert [s["name"] for s in report["sources"]] == ["fake"]  # type: ignore[index]


async def test_raw_mode_sends_each_sighting_once_per_second(
    central: RunningCentral, agent_config: MakeConfig, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr, raw_mode=True)
    t0 = (time.time_ns() - 600 * S) // S * S
    macs = [bytes([0x00, 0x1A, 0x7D, 9, 9, i]) for i in range(10)]
    # per device: three sightings in one second, one in the next, one 5 s later
    offsets = [0, S // 3, 2 * S // 3, S + 1, 5 * S]
    sightings = sorted((sighting(m, t0 + o) for m in macs for o in offsets),
                       key=lambda s: s.t_ns)
    runner = AgentRunner(config, [FakeSource("fake", sightings)], event_time=True)
    await runner.run(until_drained=True, drain_timeout_s=30)
    assert runner.progress().sightings == 50
    assert len(stored_keys(etcd_client, namespace, "det-test")) == 30
