"""EtcdStore details the services do not show: transaction limits and lost leases."""

from __future__ import annotations

import time

import etcd3

from roadside.central.store import keys
from roadside.central.store.etcd_store import MAX_TXN_BYTES, MAX_TXN_OPS, EtcdStore, split_writes
from roadside.central.store.records import StoredPass
from roadside.central.store.retention import RetentionLeases, expiry_end_s
from tests.fixtures.stored import passes_in

S = 1_000_000_000


def _passes(n: int, detector: str = "det-s", t: int = 0) -> list[StoredPass]:
    t = t or time.time_ns()
    return [
        StoredPass(detector, f"01J{i:023d}", f"{i:032x}", t - i * S, t - i * S, t - i * S,
                   t - i * S, -70, 1, "wifi", "wifi_local")
        for i in range(n)
    ]


def test_writes_split_by_count_and_size() -> None:
    small = [(f"k{i}", b"v", 0) for i in range(300)]
    assert [len(g) for g in split_writes(small)] == [MAX_TXN_OPS, MAX_TXN_OPS, 44]
    big = [(f"k{i}", b"x" * 300_000, 0) for i in range(7)]
    groups = split_writes(big)
    assert [len(g) for g in groups] == [3, 3, 1]
    assert all(sum(len(k) + len(v) for k, v, _ in g) <= MAX_TXN_BYTES for g in groups)


def test_large_batch_and_revoked_lease(
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    store = EtcdStore(etcd_client, namespace, retention_days=2)
    hour = 3600 * S  # within one UTC hour: one retention lease for them all
    passes = _passes(1000, t=(time.time_ns() // hour - 1) * hour + 1500 * S)
    assert store.put_passes(passes) == 1000
    assert len(passes_in(etcd_client, namespace)) == 1000

    # someone revoked the shared lease (or it expired): the store grants a new one
    _, meta = next(iter(etcd_client.get_prefix(keys.detections_prefix(namespace))))
    etcd_client.revoke_lease(meta.lease_id)
    assert list(etcd_client.get_prefix(keys.detections_prefix(namespace), keys_only=True)) == []
    assert store.put_passes(passes[:10]) == 10
    _, meta = next(iter(etcd_client.get_prefix(keys.detections_prefix(namespace))))
    assert etcd_client.get_lease_info(meta.lease_id).TTL > 86_400


def test_status_history_time_range(
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    store = EtcdStore(etcd_client, namespace)
    t0 = time.time_ns() - 60 * S
    times = [t0 + i * S for i in range(5)] + [t0 + 3 * S - 1]  # one just before a bound
    for t in times:
        store.put_status("det-h", {"detector_id": "det-h", "reported_ns": str(t)}, t)

    def reported(**bounds: int) -> list[int]:
        return [int(r["reported_ns"]) for r in store.status_history("det-h", **bounds)]

    assert reported() == sorted(times)
    assert reported(since_ns=t0 + S, until_ns=t0 + 3 * S) == [t0 + S, t0 + 2 * S, t0 + 3 * S - 1]
    assert reported(since_ns=t0 + 3 * S) == [t0 + 3 * S, t0 + 4 * S]
    assert reported(since_ns=t0 + S, limit=2) == [t0 + S, t0 + 2 * S]
    [latest] = store.statuses(["det-h"])
    assert latest["reported_ns"] == str(t0 + 4 * S)


def test_detections_share_one_lease_per_expiry_hour() -> None:
    granted: list[int] = []

    def grant(ttl_s: int) -> int:
        granted.append(ttl_s)
        return len(granted)

    day, hour = 86_400, 3_600
    now = 1_800_000_000.0  # a fixed clock: 2027-01-15 08:00 UTC
    leases = RetentionLeases(grant, retention_s=2 * day, clock=lambda: now)
    midnight = int(now) // day * day
    # made in today's first hour: expire at the end of that hour two days on, one lease
    assert leases.lease_for(midnight * S) == leases.lease_for((midnight + hour - 1) * S) == 1
    assert expiry_end_s(midnight * S, 2 * day) == midnight + 2 * day + hour
    # made in the hour before: one hour earlier, its own lease
    assert leases.lease_for((midnight - 1) * S) == 2
    assert granted == [midnight + 2 * day + hour - int(now), midnight + 2 * day - int(now)]
