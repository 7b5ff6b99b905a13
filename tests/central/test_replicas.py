"""Two central replicas on one etcd, an agent given both: what one stores the other serves,
and when one stops the agent carries on through the other with nothing lost or doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import etcd3

from roadside.proto.v1 import query_pb2, query_pb2_grpc
from tests.agent.test_uplink import buffer_with, make_passes, pass_names, running_uplink
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import eventually
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site


async def test_a_replica_stopping_loses_nothing_and_the_other_serves_it_all(
    start_test_central: StartCentral, agent_config: MakeConfig, site: Site, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    first, second = start_test_central(), start_test_central()
    config = agent_config(central=(first.collector_addr, second.collector_addr),
                          batch_max_passes=20)
    passes = make_passes(600)
    buf = buffer_with(tmp_path / "b.db", passes)
    async with running_uplink(config, buf) as uplink:
        await eventually(lambda: uplink.counts().passes_sent >= 100, 30, "uploads to the first")
        await asyncio.to_thread(first.stop, 0)
        await eventually(lambda: buf.depth() == 0, 60, "the rest through the second")
    assert uplink.counts().endpoint == second.collector_addr
    assert len(passes_in(etcd_client, namespace, "det-test")) == 600
    stub = site.stub(second.query_addr, query_pb2_grpc.QueryServiceStub)
    reply = stub.GetEvents(query_pb2.GetEventsRequest(detector_ids=["det-test"], limit=1000),
                           timeout=10)
    got = {f"{getattr(e, 'pass').ulid}.{getattr(e, 'pass').device_id}" for e in reply.events}
    assert got == pass_names(passes)
