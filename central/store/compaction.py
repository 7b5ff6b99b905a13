"""Merging a closed bucket's blocks into one block that holds each pass once.

Agents send their passes promptly (a batch every few seconds), so a busy bucket (100 s of
one detector) is stored as several blocks; a batch sent again after a lost acknowledgement,
cut otherwise, leaves copies. Once a bucket is `after_s` old, the compactor reads its keys,
writes one block of its passes (each once, the pass-key order of packed.py) and deletes the
others, in one transaction that holds only if none of them changed meanwhile: readers see
the parts or the whole, never a bucket half merged, and a late block written meanwhile is
left for the next round. A detector's progress is kept in etcd (`/{ns}/compacted/{id}`: the
next bucket to look at), so each bucket is read once. One central compacts at a time (a
lease lock in the namespace, like the archive's).
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass

import grpc

from roadside.central.store import keys, packed
from roadside.central.store.etcd_store import MAX_TXN_BYTES, MAX_TXN_OPS, EtcdStore
from roadside.central.store.event_reads import EventReader
from roadside.central.store.ranges import range_pages
from roadside.central.store.records import StoredPass
from roadside.central.store.rounds import Rounds

log = logging.getLogger(__name__)

AFTER_S = 600  # a bucket is merged once it ended this long ago (late passes have come)
EVERY_S = 60.0  # how often the compactor looks
LOCK_TTL_S = 120
PARTS_MAX = MAX_TXN_OPS - 2  # keys one transaction deletes (with the put and a spare)


@dataclass
class Counts:
    buckets: int = 0  # buckets merged
    parts: int = 0  # keys they had
    repeats: int = 0  # copies of a pass dropped

    def add(self, other: Counts) -> None:
        self.buckets += other.buckets
        self.parts += other.parts
        self.repeats += other.repeats


def compact_bucket(store: EtcdStore, detector_id: str, bucket: int) -> Counts:
    """Merge one bucket's keys on `store` (the detector's shard); what was done."""
    prefix = keys.bucket_prefix(store.namespace, detector_id, bucket)
    client = store.client
    resp = client.get_range_response(prefix, keys.prefix_end(prefix), limit=PARTS_MAX)
    kvs = list(resp.kvs)
    if len(kvs) < 2:
        return Counts()
    passes: dict[tuple[str, str], StoredPass] = {}
    total = 0
    for kv in kvs:
        try:
            found = packed.decode(store.namespace, kv.key.decode(), kv.value)
        except packed.UNREADABLE:  # left where it is: readers skip it with a warning
            return Counts()
        total += len(found)
        for p in found:
            passes.setdefault((p.ulid, p.device_id), p)
    detections = sorted((p.as_detection() for p in passes.values()),
                        key=lambda d: (d[1], d[2], d[3]))
    value = packed.encode_block(bucket, detections)
    if len(value) > MAX_TXN_BYTES:
        return Counts()  # too big for one request: left in its parts
    key = packed.block_key(keys.detector_prefix(store.namespace, detector_id), bucket,
                           packed.block_id(detections))
    tx = client.transactions
    try:
        ok, _ = client.transaction(
            compare=[tx.mod(kv.key) == kv.mod_revision for kv in kvs],
            success=[tx.put(key, value, lease=store.retention_lease(detections[0][1])),
                     *(tx.delete(kv.key) for kv in kvs if kv.key.decode() != key)],
            failure=[])
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        store.retention_lease_gone()  # its retention lease expired: a new one next round
        return Counts()
    if not ok:
        return Counts()  # a block came or went meanwhile: the next round
    return Counts(1, len(kvs), total - len(detections))


def compact_detector(store: EtcdStore, control: EtcdStore, detector_id: str,
                     until_bucket: int) -> Counts:
    """Merge the detector's buckets from where it got to up to `until_bucket` (excluded)."""
    ns = store.namespace
    mark = keys.compacted_key(ns, detector_id)
    value, _meta = control.client.get(mark)
    start = keys.detector_prefix(ns, detector_id)
    if value is not None:
        start = keys.bucket_prefix(ns, detector_id, int(value))
    end = keys.bucket_prefix(ns, detector_id, until_bucket)
    if start >= end:
        return Counts()
    seen = collections.Counter(keys.detection_bucket(ns, key)
                               for key, _v, _rev in range_pages(store.client, start, end,
                                                                keys_only=True))
    out = Counts()
    for bucket in sorted(b for b, n in seen.items() if n > 1):
        out.add(compact_bucket(store, detector_id, bucket))
    control.client.put(mark, str(until_bucket))
    return out


def compact_all(store: EtcdStore, after_s: float = AFTER_S) -> Counts:
    """Every detector's buckets that ended `after_s` ago, on every shard."""
    now_s = int(time.time())
    until = keys.bucket_of(int((now_s - after_s) * keys.NS_PER_S))  # that bucket still open
    out = Counts()
    for detector_id in EventReader(store).stored_detectors():
        shard = store.detection_store(store.shards.shard_of(detector_id))
        out.add(compact_detector(shard, store, detector_id, until))
    return out


class Compactor(Rounds):
    """Runs compact_all every `every_s` while central runs (one central at a time)."""

    def __init__(self, store: EtcdStore, after_s: float = AFTER_S, every_s: float = EVERY_S,
                 ) -> None:
        super().__init__(store, "compactor", keys.compactor_lock(store.namespace), LOCK_TTL_S,
                         every_s, at_start=False)
        self._after_s = after_s

    def work(self) -> Counts:
        done = compact_all(self._store, self._after_s)
        if done.buckets:
            log.info("compacted %d buckets: %d keys into %d, %d repeated passes dropped",
                     done.buckets, done.parts, done.buckets, done.repeats)
        return done

    def run_once(self) -> Counts:
        """One round, if no other central is at it."""
        done = self.locked_round(Counts)
        assert isinstance(done, Counts)
        return done
