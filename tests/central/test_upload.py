"""UploadBatch through a real server into a real etcd: layout, values, idempotency."""

from __future__ import annotations

import json
import time
from typing import Any

import etcd3

from roadside.central.api.server import RunningCentral
from roadside.central.store import keys
from roadside.proto.v1 import collector_pb2_grpc, types_pb2
from tests.central.helpers import S, make_batch, make_pass
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
    expected = {}
    for p in passes:
        bucket = (p.timestamp_ns // S) // 100 * 100
        expected[f"/{namespace}/detectors/det-a/{bucket}/{p.ulid}.{p.device_id}"] = p
    assert set(stored) == set(expected)
    for key, p in expected.items():
        value = json.loads(stored[key])
        assert value["timestamp"] == str(p.timestamp_ns)
        assert (value["first_ns"], value["last_ns"], value["peak_ns"]) == (
            p.first_ns, p.last_ns, p.peak_ns)
        assert (value["peak_rssi"], value["count"]) == (-67, 4)
        assert (value["radio"], value["address_kind"]) == ("ble", "ble_public")

    # every detection carries a retention lease of about retention + up to a day
    _, meta = etcd_client.get(next(iter(expected)))
    lease = etcd_client.get_lease_info(meta.lease_id)
    assert 6 * 86_400 < lease.TTL <= 8 * 86_400 + 60

    # one dirty marker per (detector, bucket) touched
    buckets = {(p.timestamp_ns // S) // 100 * 100 for p in passes}
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
    assert len(once) == 300
    assert twice == once


def test_values_are_the_json_of_the_pass_across_transactions(
    site: Site, central: RunningCentral, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> None:
    # 400 passes: four transactions of detections, then the markers; kinds and tags vary
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
    stored = _dump(etcd_client, keys.detector_prefix(namespace, "det-j"))
    assert len(stored) == 400
    for i, p in enumerate(passes):
        key = keys.detection_key(namespace, "det-j", p.timestamp_ns, p.ulid, p.device_id)
        assert stored[key] == json.dumps({
            "timestamp": str(p.timestamp_ns), "first_ns": p.first_ns, "last_ns": p.last_ns,
            "peak_ns": p.peak_ns, "peak_rssi": p.peak_rssi, "count": p.count,
            "radio": radios[i % 2][2], "address_kind": radios[i % 2][3], "tagged": i % 3 == 0,
        }, separators=(",", ":")).encode()
