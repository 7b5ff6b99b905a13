"""A closed bucket's blocks (an agent's prompt batches, and the copies a re-sent batch
leaves) are merged into one block holding each pass once; readers see the same events."""

from __future__ import annotations

import time

import etcd3

from roadside.central.store import compaction, keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import EventQuery, EventReader
from tests.central.query_helpers import BASE_NS, make_pass
from tests.fixtures.stored import copies_in, passes_in

S = 1_000_000_000


def bucket_keys(client: etcd3.MultiEndpointEtcd3Client, namespace: str, detector: str,
                t_ns: int) -> int:
    prefix = keys.bucket_prefix(namespace, detector, keys.bucket_of(t_ns))
    return sum(1 for _ in client.get_prefix(prefix, keys_only=True))


def test_a_closed_bucket_becomes_one_block_with_each_pass_once(
    query_store: EtcdStore, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    old = [make_pass("gate", BASE_NS + i * S) for i in range(60)]  # one bucket, a day ago
    for part in (old[:20], old[20:45], old[10:30], old[40:]):  # batches, one sent again
        query_store.put_passes(part)
    recent_t = (time.time_ns() // (100 * S)) * 100 * S  # a bucket still open
    recent = [make_pass("gate", recent_t + i * S) for i in range(4)]
    query_store.put_passes(recent[:2])
    query_store.put_passes(recent[2:])
    before = [(e.timestamp_ns, e.ulid, e.device_id)
              for e in EventReader(query_store).iter_events(EventQuery(("gate",)))]
    assert bucket_keys(etcd_client, namespace, "gate", BASE_NS) == 4
    assert copies_in(etcd_client, namespace, "gate") == 64 + 25

    done = compaction.Compactor(query_store, after_s=600).run_once()

    assert (done.buckets, done.parts, done.repeats) == (1, 4, 25)
    assert bucket_keys(etcd_client, namespace, "gate", BASE_NS) == 1
    assert bucket_keys(etcd_client, namespace, "gate", recent_t) == 2  # not over: left
    assert copies_in(etcd_client, namespace, "gate") == 64  # each pass once
    assert len(passes_in(etcd_client, namespace, "gate")) == 64
    after = [(e.timestamp_ns, e.ulid, e.device_id)
             for e in EventReader(query_store).iter_events(EventQuery(("gate",)))]
    assert after == before
    [(_value, meta)] = list(etcd_client.get_prefix(
        keys.bucket_prefix(namespace, "gate", keys.bucket_of(BASE_NS))))
    assert meta.lease_id != 0  # it expires with its passes' retention
    again = compaction.Compactor(query_store, after_s=600).run_once()
    assert again.buckets == 0  # each bucket is looked at once
