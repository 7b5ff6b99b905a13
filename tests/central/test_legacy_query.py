"""The original `query` API's client (built from proto/query) against roadside's data."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2

from roadside.central.api import legacy_query
from roadside.central.store.records import DetectorRecord
from roadside.proto.query import query_pb2
from tests.central.query_helpers import BASE_NS, DEADLINE_S, S, make_pass, refused
from tests.fixtures.query import QueryServer


def ts(t_ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=t_ns // S, nanos=t_ns % S)


def ns(t: timestamp_pb2.Timestamp) -> int:
    return t.seconds * S + t.nanos


@pytest.fixture
def stored(query_server: QueryServer) -> list[int]:
    times = [BASE_NS + i * 45 * S + 123 for i in range(12)]
    query_server.store.put_passes([make_pass("old-a", t) for t in times])
    query_server.store.put_passes([make_pass("old-b", t) for t in times[:3]])
    return times


def test_get_events_honours_the_range_and_limit(
    query_server: QueryServer, stored: list[int]
) -> None:
    rng = query_pb2.Range(after=ts(stored[2]), before=ts(stored[8]))
    resp = query_server.legacy.GetEvents(
        query_pb2.GetEventsRequest(detector_ids=["old-a"], range=rng), timeout=DEADLINE_S
    )
    assert sorted(ns(e.time[0]) for e in resp.events) == stored[2:8]
    assert {e.detector_id for e in resp.events} == {"old-a"}
    assert all(len(e.device_id) == 32 and len(e.time) == 1 for e in resp.events)

    limited = query_server.legacy.GetEvents(
        query_pb2.GetEventsRequest(detector_ids=["old-a"], range=rng, limit=4), timeout=DEADLINE_S
    )
    assert len(limited.events) == 4

    everyone = query_server.legacy.GetEvents(query_pb2.GetEventsRequest(), timeout=DEADLINE_S)
    assert len(everyone.events) == 15


def test_stream_events_streams_the_same_events(
    query_server: QueryServer, stored: list[int]
) -> None:
    req = query_pb2.GetEventsRequest(
        detector_ids=["old-a", "old-b"], range=query_pb2.Range(after=ts(stored[1]))
    )
    events = list(query_server.legacy.StreamEvents(req, timeout=DEADLINE_S))
    assert sorted(ns(e.time[0]) for e in events) == sorted(stored[1:] + stored[1:3])


def test_get_battery_voltage_from_status_reports(query_server: QueryServer) -> None:
    store = query_server.store
    store.register_detector(DetectorRecord("solar-1"))
    for i, volts in enumerate([12.6, 12.4, 0.0, 12.1]):
        t = BASE_NS + i * 60 * S
        report = {"detector_id": "solar-1", "reported_ns": str(t)}
        if volts:
            report["battery_voltage"] = volts  # type: ignore[assignment]
        store.put_status("solar-1", report, t)
    resp = query_server.legacy.GetBatteryVoltage(
        query_pb2.GetBatteryVoltageRequest(detector_ids=["solar-1"]), timeout=DEADLINE_S
    )
    assert [(r.detector_id, list(r.voltage)) for r in resp.reports] == [
        ("solar-1", [12.6, 12.4, 12.1])
    ]
    ranged = query_server.legacy.GetBatteryVoltage(
        query_pb2.GetBatteryVoltageRequest(
            detector_ids=["solar-1"], range=query_pb2.Range(after=ts(BASE_NS + 60 * S))
        ),
        timeout=DEADLINE_S,
    )
    assert list(ranged.reports[0].voltage) == [12.4, 12.1]


def test_bad_legacy_requests_are_refused(query_server: QueryServer) -> None:
    bad = grpc.StatusCode.INVALID_ARGUMENT
    get = query_server.legacy.GetEvents
    refused(get, query_pb2.GetEventsRequest(detector_ids=["a/b"]), bad, "detector_ids[0]")
    refused(get, query_pb2.GetEventsRequest(limit=-1), bad, "limit")
    late_first = query_pb2.Range(after=ts(BASE_NS + S), before=ts(BASE_NS))
    refused(get, query_pb2.GetEventsRequest(range=late_first), bad, "range.before")
    # extreme times (a fuzzer's): a reason, never INTERNAL
    far = timestamp_pb2.Timestamp(seconds=2**62)
    for request in (query_pb2.GetEventsRequest(range=query_pb2.Range(after=far)),
                    query_pb2.GetBatteryVoltageRequest(range=query_pb2.Range(before=far)),
                    query_pb2.GetBatteryVoltageRequest(range=query_pb2.Range(after=far))):
        method = get if isinstance(request, query_pb2.GetEventsRequest) \
            else query_server.legacy.GetBatteryVoltage
        refused(method, request, bad, "range: times after the year 10889")


def test_battery_voltage_of_an_unknown_detector_is_not_found(query_server: QueryServer) -> None:
    refused(
        query_server.legacy.GetBatteryVoltage,
        query_pb2.GetBatteryVoltageRequest(detector_ids=["ghost"]),
        grpc.StatusCode.NOT_FOUND, "unknown detector 'ghost'",
    )


def test_get_events_refuses_an_answer_too_big_for_one_message(
    query_server: QueryServer, stored: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(legacy_query, "MAX_UNARY_EVENTS", 10)
    get = query_server.legacy.GetEvents
    bad = grpc.StatusCode.INVALID_ARGUMENT
    refused(get, query_pb2.GetEventsRequest(), bad, "range: more than 10 events")
    refused(get, query_pb2.GetEventsRequest(limit=11), bad, "limit: at most 10")
    assert len(get(query_pb2.GetEventsRequest(limit=10), timeout=DEADLINE_S).events) == 10
    # the stream has no cap
    assert len(list(query_server.legacy.StreamEvents(
        query_pb2.GetEventsRequest(), timeout=DEADLINE_S
    ))) == 15
