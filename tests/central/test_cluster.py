"""etcd's leader killed under ingest: nothing lost, nothing twice, and central's health is
SERVING again within a second of ingest resuming. An agent backing off from an unreachable
central resumes as soon as central answers, not when its backoff ends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.agent.uplink import Uplink
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import free_port
from roadside.proto.v1 import collector_pb2_grpc
from tests.agent.test_uplink import (
    buffer_with,
    make_passes,
    pass_names,
    running_uplink,
    stored_keys,
)
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.etcd_cluster import EtcdCluster
from tests.fixtures.polling import eventually, wait_until
from tests.fixtures.trust import Site

S = 1_000_000_000
SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_leader_killed_under_ingest_loses_nothing_and_health_returns_at_once(
    site: Site,
    etcd_cluster: EtcdCluster, start_test_central: StartCentral, agent_config: MakeConfig,
    namespace: str, tmp_path: Path,
) -> None:
    # a regular poll far longer than this test: health must come back with ingest, by
    # itself (the wait below is bounded at a sixth of the poll, generous for a busy machine)
    central = start_test_central(etcd_endpoints=tuple(etcd_cluster.endpoints),
                                 health_poll_s=60.0)
    config = agent_config(central=central.collector_addr, batch_max_passes=200,
                          backoff_initial_s=0.05, backoff_max_s=0.5)
    passes = make_passes(6000, start_ns=time.time_ns() - 7000 * S)
    buf = buffer_with(tmp_path / "b.db", passes)
    async with running_uplink(config, buf) as uplink:
        await eventually(lambda: uplink.counts().passes_sent >= 1000, 30, "ingest running")
        leader = etcd_cluster.wait_leader(etcd_cluster.members)
        etcd_cluster.kill(leader)
        channel = site.routed(central.collector_addr)
        probe = make_batch("probe", [make_pass(device=1)])
        upload = collector_pb2_grpc.CollectorServiceStub(channel).UploadBatch
        health = health_pb2_grpc.HealthStub(channel)

        def ingest_resumed() -> bool:
            try:
                upload(probe, timeout=2)
                return True
            except grpc.RpcError:
                return False

        await asyncio.to_thread(wait_until, ingest_resumed, 30, "ingest after the kill")
        await asyncio.to_thread(
            wait_until,
            lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == SERVING,
            10.0, "health SERVING after ingest resumed, long before the next poll",
        )
        channel.close()
        await eventually(lambda: buf.depth() == 0, 60, "the buffer drained")
    survivors = [m.endpoint for m in etcd_cluster.members if m.proc is not None]
    client = connect(survivors)
    try:
        got = stored_keys(client, namespace, "det-test")
    finally:
        client.close()
    assert got and {k.rsplit("/", 1)[1] for k in got} == pass_names(passes)


async def test_an_agent_in_a_long_backoff_resumes_when_central_answers(
    start_test_central: StartCentral, agent_config: MakeConfig, tmp_path: Path,
    namespace: str,
) -> None:
    port = free_port()
    config = agent_config(central=f"127.0.0.1:{port}", backoff_initial_s=20.0,
                          backoff_max_s=60.0, upload_timeout_s=1.0)
    passes = make_passes(50, start_ns=time.time_ns() - 600 * S)
    buf = buffer_with(tmp_path / "b.db", passes)
    uplink = Uplink(config, buf)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        await eventually(lambda: uplink.counts().failures >= 1, 10, "a failed upload")
        # the backoff now runs for at least 10 s; central comes up meanwhile
        await asyncio.to_thread(start_test_central, collector_port=port)
        await eventually(lambda: buf.depth() == 0, 8, "uploads resumed before the backoff ended")
        assert uplink.counts().passes_sent == 50
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        buf.close()
