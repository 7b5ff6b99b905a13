"""UploadBatch through a real server into a real etcd: layout, values, idempotency."""

from __future__ import annotations

import time
from typing import Any

import etcd3

from roadside.central.api.server import RunningCentral
from roadside.central.store import keys, packed
from roadside.central.store.records import StoredPass
from roadside.proto.v1 import collector_pb2_grpc, types_pb2
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site


def _stub(site: Site, central: RunningCentral,
          ) -> tuple[Any, collector_pb2_grpc.CollectorServiceStub]:
    channel = site.routed(central.collector_addr)
    return channel, collector_pb2_grpc.CollectorServiceStub(channel)


def _dump(client: etcd3.MultiEndpointEtcd3Client, prefix: str) -> dict[str, bytes]:
    return {meta.key.decode(): value for value, meta in client.get_prefix(prefix)}


def test_upload_writes_documented_keys_and_values(
    site: Site, central: RunningCentral, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    t0 = (time.time_ns() // (100 * S)) * 100 * S - 200 * S  # two buckets ago, on an edge
    passes = [make_pass(t0 + i * 50 * S, device=i + 1) for i in range(5)]
    channel, stub = _stub(site, central)
    with channel:
        reply = stub.UploadBatch(make_batch("det-a", passes), timeout=10)
    assert reply.stored == 5

    stored = _dump(etcd_client, f"/{namespace}/detectors/")
    buckets = {(p.timestamp_ns // S) // 100 * 100 for p in passes}
    # one packed block per bucket touched, the bucket in its key
    assert sorted(k.rsplit("/", 2)[1] for k in stored) == sorted(str(b) for b in buckets)
    assert all(k.startswith(f"/{namespace}/detectors/det-a/") and "/~" in k for k in stored)
    found = {}
    for key, value in stored.items():
        for got in packed.decode(namespace, key, value):
            assert keys.detection_bucket(namespace, key) == keys.bucket_of(got.timestamp_ns)
            found[got.ulid] = got
    assert set(found) == {p.ulid for p in passes}
    for p in passes:
        got = found[p.ulid]
        assert (got.detector_id, got.device_id, got.timestamp_ns) == (
            "det-a", p.device_id, p.timestamp_ns)
        assert (got.first_ns, got.last_ns, got.peak_ns) == (p.first_ns, p.last_ns, p.peak_ns)
        assert (got.peak_rssi, got.count) == (-67, 4)
        assert (got.radio, got.address_kind) == ("ble", "ble_public")

    # every block carries a retention lease of retention (7 days) + up to an hour
    _, meta = etcd_client.get(next(iter(stored)))
    lease = etcd_client.get_lease_info(meta.lease_id)
    assert 7 * 86_400 - 300 < lease.TTL <= 7 * 86_400 + 3_600

    # one dirty marker per (detector, bucket) touched
    dirty = _dump(etcd_client, keys.dirty_prefix(namespace))
    assert set(dirty) == {keys.dirty_key(namespace, "det-a", b) for b in buckets}


def test_same_batch_twice_leaves_what_once_leaves(
    site: Site, central: RunningCentral, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    batch = make_batch("det-b", [make_pass(device=i + 1) for i in range(300)])
    channel, stub = _stub(site, central)
    with channel:
        assert stub.UploadBatch(batch, timeout=10).stored == 300
        once = _dump(etcd_client, f"/{namespace}/detectors/")
        assert stub.UploadBatch(batch, timeout=10).stored == 300
    twice = _dump(etcd_client, f"/{namespace}/detectors/")
    assert len(passes_in(etcd_client, namespace, "det-b")) == 300
    assert twice == once


def test_packed_values_keep_every_figure_across_buckets(
    site: Site, central: RunningCentral, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    # 400 passes over 400 s (five buckets or so); kinds, tags and RSSI vary
    radios = [(types_pb2.RADIO_KIND_WIFI, types_pb2.ADDRESS_KIND_WIFI_LOCAL, "wifi", "wifi_local"),
              (types_pb2.RADIO_KIND_BT_CLASSIC, types_pb2.ADDRESS_KIND_UNSPECIFIED,
               "bt_classic", "unknown")]
    now = time.time_ns()
    passes = [
        make_pass(now - i * S, device=i + 1, radio=radios[i % 2][0],
                  address_kind=radios[i % 2][1], tagged=i % 3 == 0, peak_rssi=-128 + i % 149)
        for i in range(400)
    ]
    channel, stub = _stub(site, central)
    with channel:
        assert stub.UploadBatch(make_batch("det-j", passes), timeout=10).stored == 400
    blocks = _dump(etcd_client, keys.detector_prefix(namespace, "det-j"))
    assert len(blocks) == len({keys.bucket_of(p.timestamp_ns) for p in passes})
    stored = passes_in(etcd_client, namespace, "det-j")
    assert len(stored) == 400
    for i, p in enumerate(passes):
        got = stored[keys.detection_key(namespace, "det-j", p.timestamp_ns, p.ulid, p.device_id)]
        assert got == StoredPass(
            "det-j", p.ulid, p.device_id, p.timestamp_ns, p.first_ns, p.last_ns, p.peak_ns,
            p.peak_rssi, p.count, radios[i % 2][2], radios[i % 2][3], i % 3 == 0)
