"""No client can exhaust central: every queue, stream and request has a bound, and past it
the caller gets RESOURCE_EXHAUSTED (or INVALID_ARGUMENT) with the reason, nothing written."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import etcd3
import grpc
import pytest
from google.protobuf import timestamp_pb2

from roadside.central.api.server import RunningCentral
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.records import DetectorRecord
from roadside.proto.collector import collector_pb2 as legacy_pb2
from roadside.proto.collector import collector_pb2_grpc as legacy_grpc
from roadside.proto.v1 import (
    collector_pb2,
    collector_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    types_pb2,
)
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.central import StartCentral
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site

CALL_S = 10


@pytest.fixture
def channels(site: Site, central: RunningCentral) -> Iterator[tuple[Any, Any]]:
    collector = site.routed(central.collector_addr)
    query = site.routed(central.query_addr)
    yield collector, query
    collector.close()
    query.close()


def code_of(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    raise AssertionError("the call succeeded")


def stored(client: etcd3.MultiEndpointEtcd3Client, namespace: str, detector: str) -> int:
    return len(passes_in(client, namespace, detector))


def test_a_follower_that_does_not_read_is_ended_not_buffered(
    site: Site,
    start_test_central: StartCentral,
) -> None:
    central = start_test_central(follow_backlog_events=500)
    with site.routed(central.query_addr) as q, \
            site.routed(central.collector_addr) as c:
        upload = collector_pb2_grpc.CollectorServiceStub(c).UploadBatch
        now = time.time_ns() - 60 * S
        upload(make_batch("slow", [make_pass(now, device=0)]), timeout=CALL_S)
        follow = query_pb2_grpc.QueryServiceStub(q).StreamEvents(
            query_pb2.StreamEventsRequest(detector_ids=["slow"], follow=True), timeout=60)
        next(follow)  # the stream is live; from here on the client reads nothing
        for batch in range(40):  # 40,000 events into a follower allowed 500 behind
            passes = [make_pass(now + batch * S + i, device=1 + batch * 1000 + i)
                      for i in range(1000)]
            upload(make_batch("slow", passes), timeout=CALL_S)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in follow:
                pass
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "fell more than 500 events behind" in caught.value.details()


def test_open_streams_never_starve_unary_calls(site: Site, start_test_central: StartCentral,
                                               ) -> None:
    central = start_test_central(workers=4, max_streams=2)
    with site.routed(central.query_addr) as q, \
            site.routed(central.collector_addr) as c:
        stub = query_pb2_grpc.QueryServiceStub(q)
        upload = collector_pb2_grpc.CollectorServiceStub(c).UploadBatch
        upload(make_batch("busy", [make_pass(device=7)]), timeout=CALL_S)
        request = query_pb2.StreamEventsRequest(follow=True)
        held = [stub.StreamEvents(request, timeout=60) for _ in range(2)]
        for h in held:
            next(h)  # each is running on the server: it sent the stored event
        code, details = code_of(lambda: next(stub.StreamEvents(request, timeout=CALL_S)))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "stream slots" in details and "unary calls are not affected" in details
        # unary calls on both servers are served while the streams stay open
        for _ in range(20):
            stub.ListDetectors(query_pb2.ListDetectorsRequest(), timeout=CALL_S)
        upload(make_batch("busy", [make_pass(device=8)]), timeout=CALL_S)
        for h in held:
            h.cancel()


def test_status_reports_are_bounded_in_size_rate_and_history(
    site: Site,
    start_test_central: StartCentral,
) -> None:
    central = start_test_central(status_reports_per_minute=3, status_history_max=2)
    with site.routed(central.collector_addr) as c:
        stub = collector_pb2_grpc.CollectorServiceStub(c)
        now = time.time_ns() - 10 * S

        def report(i: int, **extra: object) -> collector_pb2.ReportStatusResponse:
            status = types_pb2.AgentStatus(detector_id="chatty", reported_ns=now + i * S,
                                           buffer_depth=i + 1, **extra)  # type: ignore[arg-type]
            return stub.ReportStatus(collector_pb2.ReportStatusRequest(status=status),
                                     timeout=CALL_S)

        code, details = code_of(lambda: report(0, agent_version="x" * 1_000_000))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most 16384" in details
        assert central.store.statuses(["chatty"]) == []
        for i in range(3):
            report(i)
        code, details = code_of(lambda: report(3))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "status reports" in details
        history = central.store.status_history("chatty")
        assert [h["buffer_depth"] for h in history] == ["2", "3"]  # the oldest went


def test_each_detector_has_an_ingest_quota(
    site: Site,
    start_test_central: StartCentral, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    central = start_test_central(ingest_passes_per_minute=60, ingest_burst_passes=5000)
    with site.routed(central.collector_addr) as c:
        upload = collector_pb2_grpc.CollectorServiceStub(c).UploadBatch
        now = time.time_ns() - 600 * S
        upload(make_batch("greedy", [make_pass(now + i, device=i) for i in range(5000)]),
               timeout=CALL_S)
        more = make_batch("greedy", [make_pass(now + 9000 + i, device=9000 + i)
                                     for i in range(100)])
        code, details = code_of(lambda: upload(more, timeout=CALL_S))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "greedy: over its ingest quota of 60 passes per minute" in details
        assert stored(etcd_client, namespace, "greedy") == 5000  # the refused batch: nothing
        upload(make_batch("modest", [make_pass(now)]), timeout=CALL_S)  # others unaffected


def test_undecodable_request_bytes_are_invalid_argument_without_a_traceback(
    channels: tuple[grpc.Channel, grpc.Channel], caplog: pytest.LogCaptureFixture,
) -> None:
    collector, query = channels
    for channel, method in ((collector, "/roadside.v1.CollectorService/UploadBatch"),
                            (collector, "/collector.CollectorService/CreateEventLog"),
                            (query, "/roadside.v1.QueryService/StreamEvents")):
        if method.endswith("StreamEvents"):
            call = channel.unary_stream(method)
            code, details = code_of(lambda c=call: list(c(b"\xff\xff\xff\xff", timeout=CALL_S)))
        else:
            call = channel.unary_unary(method)
            code, details = code_of(lambda c=call: c(b"\xff\xff\xff\xff", timeout=CALL_S))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, method
        assert "is not a valid" in details
    assert "Traceback" not in caplog.text and "Exception deserializing" not in caplog.text


def test_timestamps_out_of_range_are_refused(
    channels: tuple[grpc.Channel, grpc.Channel],
) -> None:
    stub = legacy_grpc.CollectorServiceStub(channels[0])
    event = legacy_pb2.DetectionEvent(
        wifi="a" * 32, time=[timestamp_pb2.Timestamp(seconds=2**63 - 1)])
    log = legacy_pb2.EventLog(loc=legacy_pb2.Coordinates(detector_id="old-1"), events=[event])
    code, details = code_of(lambda: stub.CreateEventLog(log, timeout=CALL_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "events[0].time[0].seconds" in details


def test_links_into_one_destination_are_capped_and_keep_working(
    channels: tuple[grpc.Channel, grpc.Channel], central: RunningCentral,
) -> None:
    legacy = legacy_grpc.CollectorServiceStub(channels[0])
    for i in range(64):
        legacy.CreateDetectorLink(legacy_pb2.DetectorLink(
            dest_detector_id="hub", src_detectors=[legacy_pb2.DetectorLink.SourceDetector(
                detector_id=f"s{i}", max_seconds=600)]), timeout=CALL_S)
    code, details = code_of(lambda: legacy.CreateDetectorLink(legacy_pb2.DetectorLink(
        dest_detector_id="hub", src_detectors=[legacy_pb2.DetectorLink.SourceDetector(
            detector_id="s64", max_seconds=600)]), timeout=CALL_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most 64" in details
    stub = collector_pb2_grpc.CollectorServiceStub(channels[0])
    for detector_id in ["hub", *(f"t{i}" for i in range(64))]:  # links name known detectors
        central.store.register_detector(DetectorRecord(detector_id))
    sources = [collector_pb2.LinkSource(src_detector_id=f"t{i}", max_seconds=600)
               for i in range(64)]
    stub.SetLinks(collector_pb2.SetLinksRequest(dest_detector_id="hub", sources=sources),
                  timeout=CALL_S)  # all 64 old ones replaced by 64 new ones
    assert {link.src for link in central.store.links("hub")} == {f"t{i}" for i in range(64)}


def test_a_stream_refused_at_its_end_stores_nothing(
    channels: tuple[grpc.Channel, grpc.Channel], etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    stub = legacy_grpc.CollectorServiceStub(channels[0])
    now = time.time() - 3000

    def logs() -> Iterator[legacy_pb2.EventLog]:
        for m in range(12):  # 12 x 1000 detections, then a bad message
            events = [legacy_pb2.DetectionEvent(
                wifi=f"dev{m}x{i}", time=[timestamp_pb2.Timestamp(seconds=int(now) + i)])
                for i in range(1000)]
            yield legacy_pb2.EventLog(loc=legacy_pb2.Coordinates(detector_id="long"),
                                      events=events)
        yield legacy_pb2.EventLog(loc=legacy_pb2.Coordinates(detector_id="long"), events=[
            legacy_pb2.DetectionEvent(wifi="x", time=[])])

    code, details = code_of(lambda: stub.StreamEventLog(logs(), timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("messages[12].events[0].time") and "nothing stored" in details
    assert stored(etcd_client, namespace, "long") == 0


def test_names_with_terminal_escapes_are_refused(
    channels: tuple[grpc.Channel, grpc.Channel],
) -> None:
    stub = collector_pb2_grpc.CollectorServiceStub(channels[0])
    detector = types_pb2.Detector(id="evil", name="\x1b]0;owned\x07box")
    code, details = code_of(lambda: stub.RegisterDetector(
        collector_pb2.RegisterDetectorRequest(detector=detector), timeout=CALL_S))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "detector.name: control" in details


def test_a_write_over_etcds_request_limit_is_invalid_argument_and_health_stays(
    site: Site,
    tmp_path: Path, start_test_central: StartCentral, caplog: pytest.LogCaptureFixture,
) -> None:
    etcd = EtcdProcess(tmp_path / "etcd", extra_args=["--max-request-bytes", "4096"])
    etcd.start()
    try:
        central = start_test_central(endpoint=etcd.endpoint)
        with site.routed(central.collector_addr) as c:
            stub = collector_pb2_grpc.CollectorServiceStub(c)
            status = types_pb2.AgentStatus(detector_id="wordy", reported_ns=time.time_ns(),
                                           agent_version="v" * 8000)
            with caplog.at_level(logging.WARNING):
                code, details = code_of(lambda: stub.ReportStatus(
                    collector_pb2.ReportStatusRequest(status=status), timeout=CALL_S))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "too large for etcd's request limit" in details
        assert central.health.serving and "NOT_SERVING" not in caplog.text
    finally:
        etcd.stop()
