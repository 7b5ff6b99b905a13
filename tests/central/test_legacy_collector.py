"""The original `collector.CollectorService`, every method, through a client built from
proto/collector, against a real server and etcd (read back directly and via `query`)."""

from __future__ import annotations

import json
import time

import etcd3
import grpc
import pytest
from google.protobuf import timestamp_pb2

from roadside.central.api.server import RunningCentral
from roadside.central.store import keys
from roadside.proto.collector import collector_pb2, collector_pb2_grpc
from roadside.proto.query import query_pb2, query_pb2_grpc
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import DETECTOR_A, Site

S = 1_000_000_000


@pytest.fixture
def stub(site: Site, central: RunningCentral) -> collector_pb2_grpc.CollectorServiceStub:
    channel = site.routed(central.collector_addr)
    yield collector_pb2_grpc.CollectorServiceStub(channel)
    channel.close()


def _stamp(t_ns: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(t_ns)
    return stamp


def _detections(client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> dict[str, dict]:
    """pass key -> the pass as the original system's JSON detection (what its tools read)."""
    return {key: json.loads(p.to_json()) for key, p in passes_in(client, namespace).items()}


def test_create_event_log_one_detection_per_timestamp_idempotent(
    site: Site,
    central: RunningCentral,
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    t = time.time_ns() - 60 * S
    log = collector_pb2.EventLog(
        loc=collector_pb2.Coordinates(detector_id="old-7"),
        events=[
            collector_pb2.DetectionEvent(time=[_stamp(t), _stamp(t + S)], wifi="w-hash-1"),
            collector_pb2.DetectionEvent(time=[_stamp(t + 2 * S)], bluetooth="b_hash_2"),
        ],
    )
    stub.CreateEventLog(log, timeout=10)
    once = _detections(etcd_client, namespace)
    assert len(once) == 3
    by_device: dict[str, list[tuple[int, str]]] = {}
    for key, value in once.items():
        parsed = keys.parse_detection_key(namespace, key)
        assert parsed.detector_id == "old-7"
        assert keys.ULID_RE.fullmatch(parsed.ulid)
        assert parsed.bucket == int(value["timestamp"]) // S // 100 * 100
        assert value["count"] == 1 and value["address_kind"] == "unknown"
        by_device.setdefault(parsed.device_id, []).append((int(value["timestamp"]), value["radio"]))
    assert sorted(by_device["w-hash-1"]) == [(t, "wifi"), (t + S, "wifi")]
    assert by_device["b_hash_2"] == [(t + 2 * S, "bluetooth")]

    stub.CreateEventLog(log, timeout=10)  # resent: the same keys, nothing more
    assert _detections(etcd_client, namespace) == once

    # and the original query API reads them back within the range
    with site.routed(central.query_addr) as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        reply = query.GetEvents(query_pb2.GetEventsRequest(
            detector_ids=["old-7"],
            range=query_pb2.Range(after=_stamp(t), before=_stamp(t + 2 * S)),
        ), timeout=10)
    assert sorted(e.device_id for e in reply.events) == ["w-hash-1", "w-hash-1"]


def test_stream_event_log_counts_per_device_type(
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    t = time.time_ns()

    def logs() -> object:
        for i in range(3):
            yield collector_pb2.EventLog(
                loc=collector_pb2.Coordinates(detector_id="old-8"),
                events=[
                    collector_pb2.DetectionEvent(time=[_stamp(t - i * S)], mobile=f"m{i}"),
                    collector_pb2.DetectionEvent(time=[_stamp(t - i * S)], wifi=f"w{i}"),
                    collector_pb2.DetectionEvent(
                        time=[_stamp(t - i * S), _stamp(t - i * S - 1)], wifi=f"x{i}"),
                ],
            )

    reply = stub.StreamEventLog(logs(), timeout=10)
    assert (reply.mobile, reply.wifi, reply.bluetooth) == (3, 9, 0)
    assert len(_detections(etcd_client, namespace)) == 12


def test_create_detector_link_adds_sources(
    central: RunningCentral,
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    def link(src: str, max_s: int) -> collector_pb2.DetectorLink:
        return collector_pb2.DetectorLink(
            dest_detector_id="old-2",
            src_detectors=[collector_pb2.DetectorLink.SourceDetector(
                detector_id=src, max_seconds=max_s)],
        )

    stub.CreateDetectorLink(link("old-1", 600), timeout=10)
    stub.CreateDetectorLink(link("old-0", 1200), timeout=10)
    stored = {meta.key.decode(): json.loads(value)
              for value, meta in etcd_client.get_prefix(f"/{namespace}/links/")}
    assert stored == {
        f"/{namespace}/links/old-2/old-0": {"max_seconds": "1200", "length_m": 0.0},
        f"/{namespace}/links/old-2/old-1": {"max_seconds": "600", "length_m": 0.0},
    }


def test_create_coordinates_fixed_five_decimals(
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub
) -> None:
    stub.CreateCoordinates(
        collector_pb2.Coordinates(detector_id="old-3", latitude=5_212_345, longitude=-412_340),
        timeout=10,
    )
    detector = central.store.get_detector("old-3")
    assert detector is not None
    assert detector.latitude == pytest.approx(52.12345)
    assert detector.longitude == pytest.approx(-4.1234)


def test_create_detector_status_read_back_as_battery_voltage(
    site: Site,
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub
) -> None:
    for volts in (12.6, 12.4, 11.9):
        stub.CreateDetectorStatus(collector_pb2.DetectorStatus(
            loc=collector_pb2.Coordinates(detector_id="old-4"),
            active_detectors=[collector_pb2.WIFI, collector_pb2.BLUETOOTH],
            battery_voltage=volts,
            detection_count={2: 120, 3: 40},
        ), timeout=10)
    [latest] = central.store.statuses(["old-4"])
    assert latest["battery_voltage"] == 11.9
    assert latest["active_detectors"] == ["WIFI", "BLUETOOTH"]
    assert latest["detection_count"] == {"2": "120", "3": "40"}

    with site.routed(central.query_addr) as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        reply = query.GetBatteryVoltage(
            query_pb2.GetBatteryVoltageRequest(detector_ids=["old-4"]), timeout=10)
    assert [(r.detector_id, list(r.voltage)) for r in reply.reports] == [
        ("old-4", [12.6, 12.4, 11.9])]


def test_an_original_api_upload_registers_its_detector(
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub,
) -> None:
    t = time.time_ns() - 60 * S
    stub.CreateEventLog(collector_pb2.EventLog(
        loc=collector_pb2.Coordinates(detector_id="old-new"),
        events=[collector_pb2.DetectionEvent(time=[_stamp(t)], wifi="w1")]), timeout=10)
    record = central.store.get_detector("old-new")
    assert record is not None and "wifi" in record.radios  # links may name it now


def test_a_stream_refused_for_another_detectors_event_stores_nothing(
    central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    t = time.time_ns() - 3600 * S

    def logs() -> object:
        for detector in ("det-a", "det-a", "det-b"):  # the third is not the caller's
            yield collector_pb2.EventLog(
                loc=collector_pb2.Coordinates(detector_id=detector),
                events=[collector_pb2.DetectionEvent(time=[_stamp(t + i * S)], wifi=f"w{i}")
                        for i in range(3000)])

    with site.channel(central.collector_addr, DETECTOR_A) as channel, \
            pytest.raises(grpc.RpcError) as refused:
        collector_pb2_grpc.CollectorServiceStub(channel).StreamEventLog(logs(), timeout=60)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _detections(etcd_client, namespace) == {}
