"""Bad input is refused with INVALID_ARGUMENT naming the field and index; nothing is written."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import etcd3
import grpc
import pytest
from google.protobuf import timestamp_pb2

from roadside.central.api.server import RunningCentral
from roadside.proto.collector import collector_pb2 as legacy_pb2
from roadside.proto.collector import collector_pb2_grpc as legacy_grpc
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.trust import Site

DAY = 86_400 * S
Edit = Callable[[collector_pb2.UploadBatchRequest], None]


def _pass_edit(index: int, **fields: object) -> Edit:
    def edit(batch: collector_pb2.UploadBatchRequest) -> None:
        for name, value in fields.items():
            setattr(batch.passes[index], name, value)

    return edit


def _set(**fields: object) -> Edit:
    def edit(batch: collector_pb2.UploadBatchRequest) -> None:
        for name, value in fields.items():
            setattr(batch, name, value)

    return edit


def _duplicate(batch: collector_pb2.UploadBatchRequest) -> None:
    batch.passes[3].CopyFrom(batch.passes[1])


def _too_many(batch: collector_pb2.UploadBatchRequest) -> None:
    batch.passes.extend(make_pass(device=100 + i) for i in range(10))


BAD_BATCHES: list[tuple[str, Edit, str]] = [
    ("slash in detector", _set(detector_id="det/a"), "detector_id:"),
    ("dot-dot detector", _set(detector_id=".."), "detector_id:"),
    ("upper-case detector", _set(detector_id="Det-A"), "detector_id:"),
    ("empty detector", _set(detector_id=""), "detector_id: missing"),
    ("bad batch id", _set(batch_id="not-a-ulid"), "batch_id:"),
    ("short device id", _pass_edit(2, device_id="abc"), "passes[2].device_id"),
    ("upper-case device id", _pass_edit(2, device_id="A" * 32), "passes[2].device_id"),
    ("raw MAC as device id", _pass_edit(2, device_id="aa:bb:cc:dd:ee:ff"), "passes[2].device_id"),
    ("bad ulid", _pass_edit(1, ulid="0" * 25 + "U"), "passes[1].ulid"),
    ("overflowing ulid", _pass_edit(1, ulid="8" + "0" * 25), "passes[1].ulid"),
    ("peak before first", _pass_edit(0, peak_ns=1), "passes[0].peak_ns"),
    ("timestamp after last", _pass_edit(0, timestamp_ns=2**62), "passes[0].timestamp_ns"),
    ("zero count", _pass_edit(3, count=0), "passes[3].count"),
    ("rssi too high", _pass_edit(3, peak_rssi=40), "passes[3].peak_rssi"),
    ("rssi too low", _pass_edit(3, peak_rssi=-200), "passes[3].peak_rssi"),
    ("radio unset", _pass_edit(2, radio=types_pb2.RADIO_KIND_UNSPECIFIED), "passes[2].radio"),
    ("radio unknown", _pass_edit(2, radio=77), "passes[2].radio"),
    ("address kind unknown", _pass_edit(2, address_kind=99), "passes[2].address_kind"),
    ("same pass twice", _duplicate, "passes[3]"),
    ("batch too large", _too_many, "passes: 14 passes, at most 8"),
    ("message too large", _set(batch_id="0" * 5000), "message: 5"),
]


def _future(batch: collector_pb2.UploadBatchRequest) -> None:
    t = time.time_ns() + 3600 * S
    batch.passes[2].CopyFrom(make_pass(t, device=3))


def _too_old(batch: collector_pb2.UploadBatchRequest) -> None:
    t = time.time_ns() - 9 * DAY
    batch.passes[2].CopyFrom(make_pass(t, device=3))


BAD_BATCHES += [
    ("an hour in the future", _future, "passes[2].timestamp_ns: more than 300 s in the future"),
    ("older than retention", _too_old, "passes[2].timestamp_ns: older than the retention"),
]


@pytest.fixture
def small_central(start_test_central: Callable[..., RunningCentral]) -> RunningCentral:
    return start_test_central(max_batch_passes=8, max_message_bytes=4096)


def _nothing_in(client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> None:
    """Nothing in the namespace but the site PKI's registry (central's own certificate) and
    the audit log (an admin's attempt is audited)."""
    found = [m.key for _, m in client.get_prefix(f"/{namespace}/", keys_only=True)]
    kept = tuple(f"/{namespace}/{p}/".encode() for p in ("pki", "audit"))
    assert [k for k in found if not k.startswith(kept)] == []


def _refused(call: Callable[[], object], named: str) -> str:
    """Make the call; it must fail INVALID_ARGUMENT naming `named`. Returns the details."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details: str = caught.value.details()
    assert named in details
    return details


@pytest.mark.parametrize(("case", "edit", "named"), BAD_BATCHES, ids=[c[0] for c in BAD_BATCHES])
def test_bad_batch_refused_and_nothing_written(
    site: Site,
    small_central: RunningCentral,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
    case: str,
    edit: Edit,
    named: str,
) -> None:
    batch = make_batch("det-a", [make_pass(device=i + 1) for i in range(4)])
    edit(batch)
    with site.routed(small_central.collector_addr) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        details = _refused(lambda: stub.UploadBatch(batch, timeout=10), named)
    assert "aa:bb:cc" not in details  # a device identity is never echoed
    _nothing_in(etcd_client, namespace)


def _stamp(t_ns: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(t_ns)
    return stamp


def _legacy_log(*events: legacy_pb2.DetectionEvent) -> legacy_pb2.EventLog:
    return legacy_pb2.EventLog(
        loc=legacy_pb2.Coordinates(detector_id="old-1"), events=list(events)
    )


RAW_MACS = ("AA-BB-CC-DD-EE-FF", "a0b1c2d3e4f5")
NOW = time.time_ns()
OK_EVENT = legacy_pb2.DetectionEvent(time=[_stamp(NOW)], wifi="hash-1")
BAD_LEGACY: list[tuple[str, legacy_pb2.EventLog, str]] = [
    ("raw MAC", _legacy_log(OK_EVENT, legacy_pb2.DetectionEvent(
        time=[_stamp(NOW)], bluetooth=RAW_MACS[0])), "events[1].bluetooth: looks like"),
    ("plain 12 hex MAC", _legacy_log(legacy_pb2.DetectionEvent(
        time=[_stamp(NOW)], mobile=RAW_MACS[1])), "events[0].mobile: looks like"),
    ("no device id", _legacy_log(OK_EVENT, legacy_pb2.DetectionEvent(time=[_stamp(NOW)])),
     "events[1].device_id: missing"),
    ("slash in device id", _legacy_log(legacy_pb2.DetectionEvent(
        time=[_stamp(NOW)], wifi="a/b")), "events[0].wifi"),
    ("no time", _legacy_log(legacy_pb2.DetectionEvent(wifi="x1")), "events[0].time"),
    ("time in the future", _legacy_log(legacy_pb2.DetectionEvent(
        time=[_stamp(NOW), _stamp(NOW + 86_400 * S)], wifi="x1")), "events[0].time[1]"),
    ("bad detector", legacy_pb2.EventLog(loc=legacy_pb2.Coordinates(detector_id="a/../b"),
                                         events=[OK_EVENT]), "loc.detector_id"),
]


@pytest.mark.parametrize(("case", "log", "named"), BAD_LEGACY, ids=[c[0] for c in BAD_LEGACY])
def test_bad_legacy_event_log_refused_and_nothing_written(
    site: Site,
    central: RunningCentral,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
    case: str,
    log: legacy_pb2.EventLog,
    named: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with site.routed(central.collector_addr) as channel:
        stub = legacy_grpc.CollectorServiceStub(channel)
        details = _refused(lambda: stub.CreateEventLog(log, timeout=10), named)
        # the same message inside a stream: refused whole, naming the message
        messages = [_legacy_log(OK_EVENT), log]
        _refused(lambda: stub.StreamEventLog(iter(messages), timeout=10), f"messages[1].{named}")
    for mac in RAW_MACS:  # privacy: a raw MAC is neither echoed nor logged
        assert mac not in details and mac not in caplog.text
    _nothing_in(etcd_client, namespace)


BAD_OTHER = [
    ("RegisterDetector", collector_pb2.RegisterDetectorRequest(
        detector=types_pb2.Detector(id="d1", latitude=91.0)), "detector.latitude"),
    ("RegisterDetector", collector_pb2.RegisterDetectorRequest(
        detector=types_pb2.Detector(id="d1", radios=[0])), "detector.radios[0]"),
    ("SetLinks", collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[
        collector_pb2.LinkSource(src_detector_id="d1", max_seconds=600),
        collector_pb2.LinkSource(src_detector_id="d1/x", max_seconds=600)]),
     "sources[1].src_detector_id"),
    ("SetLinks", collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[
        collector_pb2.LinkSource(src_detector_id="d1", max_seconds=0)]),
     "sources[0].max_seconds"),
    ("SetLinks", collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[
        collector_pb2.LinkSource(src_detector_id="d2", max_seconds=60)]),
     "sources[0].src_detector_id: a detector cannot link to itself"),
    ("SetLinks", collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[
        collector_pb2.LinkSource(src_detector_id="d1", max_seconds=60,
                                 geometry=[13.4, 52.5, 13.41])]),
     "sources[0].geometry: expected longitude, latitude pairs"),
    ("SetLinks", collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[
        collector_pb2.LinkSource(src_detector_id="d1", max_seconds=60,
                                 geometry=[13.4, 52.5, 13.41, 95.0])]),
     "sources[0].geometry[3] (latitude)"),
    ("ReportStatus", collector_pb2.ReportStatusRequest(
        status=types_pb2.AgentStatus(detector_id="d1")), "status.reported_ns"),
    ("SetRoute", collector_pb2.SetRouteRequest(
        route=collector_pb2.Route(name="r1", detector_ids=["d1"])), "route.detector_ids"),
    ("SetRoute", collector_pb2.SetRouteRequest(
        route=collector_pb2.Route(name="R 1", detector_ids=["d1", "d2"])), "route.name"),
]


@pytest.mark.parametrize(("method", "request_", "named"), BAD_OTHER,
                         ids=[f"{c[0]}-{c[2]}" for c in BAD_OTHER])
def test_bad_registry_requests_refused_and_nothing_written(
    site: Site,
    central: RunningCentral,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
    method: str,
    request_: object,
    named: str,
) -> None:
    with site.routed(central.collector_addr) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        _refused(lambda: getattr(stub, method)(request_, timeout=10), named)
    _nothing_in(etcd_client, namespace)
