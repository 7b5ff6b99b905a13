"""A live box's passes arrive one at a time; the uplink sends the first at once and lets
the next batch fill for batch_linger_s, so central stores them in few keys; a full batch
goes without waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import etcd3

from roadside.agent.uplink import Uplink
from roadside.central.api.server import RunningCentral
from roadside.central.store import keys
from tests.agent.test_uplink import buffer_with, make_passes, rows_of
from tests.fixtures.agent import MakeConfig
from tests.fixtures.polling import eventually
from tests.fixtures.stored import passes_in


async def test_passes_that_trickle_in_go_in_one_batch_after_the_first(
    central: RunningCentral, agent_config: MakeConfig, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    config = agent_config(central=central.collector_addr, batch_linger_s=3600.0,
                          batch_max_passes=20)
    passes = make_passes(21)  # one closed pass, then 20 more one by one
    buf = buffer_with(tmp_path / "b.db", passes[:1])
    uplink = Uplink(config, buf)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        await eventually(lambda: uplink.counts().passes_sent == 1, 30, "the first pass sent")
        for p in passes[1:]:  # each arrival wakes the uplink; it waits for a full batch
            buf.append(rows_of([p]))
            uplink.wake()
        await eventually(lambda: uplink.counts().passes_sent == 21, 30, "the full batch sent")
        assert uplink.counts().uploads == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        buf.close()
    assert len(passes_in(etcd_client, namespace, "det-test")) == 21
    buckets = {keys.bucket_of(p.timestamp_ns) for p in passes[1:]}
    blocks = list(etcd_client.get_prefix(keys.detector_prefix(namespace, "det-test")))
    assert len(blocks) == 1 + len(buckets)  # a block per batch and bucket it touches
