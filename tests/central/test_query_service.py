"""roadside.v1 QueryService through a real gRPC server on a real etcd."""

from __future__ import annotations

import threading
import urllib.request

import grpc
import pytest
from ulid import ULID

from roadside.central.api import wire
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.store.records import DetectorRecord, LinkRecord, RouteRecord
from roadside.proto.v1 import collector_pb2, query_pb2, types_pb2
from tests.central.query_helpers import BASE_NS, DEADLINE_S, S, make_pass, refused
from tests.fixtures.polling import wait_until
from tests.fixtures.query import QueryServer


def test_upload_then_query_round_trip(query_server: QueryServer) -> None:
    passes = [make_pass("gate-2", BASE_NS + i * 7 * S) for i in range(20)]
    request = collector_pb2.UploadBatchRequest(
        detector_id="gate-2", batch_id=str(ULID()), passes=[wire.record_to_pass(p) for p in passes]
    )
    assert query_server.collector.UploadBatch(request, timeout=DEADLINE_S).stored == 20
    resp = query_server.stub.GetEvents(
        query_pb2.GetEventsRequest(detector_ids=["gate-2"], since_ns=BASE_NS + 7 * S),
        timeout=DEADLINE_S,
    )
    got = sorted((getattr(e, "pass").timestamp_ns, getattr(e, "pass").device_id)
                 for e in resp.events)
    assert got == sorted((p.timestamp_ns, p.device_id) for p in passes[1:])


def test_stored_passes_come_back_with_every_field(query_server: QueryServer) -> None:
    stored = [make_pass("gate-1", BASE_NS + i * 30 * S) for i in range(5)]
    query_server.store.put_passes(stored)
    resp = query_server.stub.GetEvents(
        query_pb2.GetEventsRequest(detector_ids=["gate-1"]), timeout=DEADLINE_S
    )
    assert [e.detector_id for e in resp.events] == ["gate-1"] * 5
    got = {getattr(e, "pass").device_id: getattr(e, "pass") for e in resp.events}
    for p in stored:
        m = got[p.device_id]
        assert (m.ulid, m.timestamp_ns, m.first_ns, m.last_ns, m.peak_ns) == (
            p.ulid, p.timestamp_ns, p.first_ns, p.last_ns, p.peak_ns
        )
        assert (m.peak_rssi, m.count, m.radio, m.address_kind) == (
            -61, 4, types_pb2.RADIO_KIND_BLE, types_pb2.ADDRESS_KIND_BLE_RANDOM_STATIC
        )
    assert resp.next_page_token == ""


def test_get_events_pages_through_a_time_range(query_server: QueryServer) -> None:
    stored = [make_pass(d, BASE_NS + i * 11 * S) for d in ("n1", "n2") for i in range(30)]
    query_server.store.put_passes(stored)
    since, until = BASE_NS + 50 * S, BASE_NS + 250 * S
    want = {p.device_id for p in stored if since <= p.timestamp_ns < until}
    seen: list[str] = []
    token = ""
    while True:
        resp = query_server.stub.GetEvents(
            query_pb2.GetEventsRequest(
                detector_ids=["n1", "n2"], since_ns=since, until_ns=until, limit=4,
                page_token=token,
            ),
            timeout=DEADLINE_S,
        )
        seen += [getattr(e, "pass").device_id for e in resp.events]
        token = resp.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(want)


def test_stream_events_without_follow_ends_after_the_range(query_server: QueryServer) -> None:
    query_server.store.put_passes([make_pass("s1", BASE_NS + i * S) for i in range(50)])
    events = list(query_server.stub.StreamEvents(
        query_pb2.StreamEventsRequest(detector_ids=["s1"], since_ns=BASE_NS + 10 * S),
        timeout=DEADLINE_S,
    ))
    assert sorted(getattr(e, "pass").timestamp_ns for e in events) == [
        BASE_NS + i * S for i in range(10, 50)
    ]


def test_follow_sees_events_committed_after_it_started(query_server: QueryServer) -> None:
    store = query_server.store
    store.put_passes([make_pass("f1", BASE_NS)])
    stream = query_server.stub.StreamEvents(
        query_pb2.StreamEventsRequest(detector_ids=["f1"], follow=True), timeout=DEADLINE_S
    )
    try:
        first = next(stream)
        assert getattr(first, "pass").timestamp_ns == BASE_NS
        later = [make_pass("f1", BASE_NS + i * S) for i in range(1, 4)]
        store.put_passes(later)
        store.put_passes([make_pass("other", BASE_NS + S)])  # another detector: not shown
        store.put_passes(later)  # a re-upload rewrites the same keys: not shown twice
        store.put_passes([make_pass("f1", BASE_NS + 9 * S)])
        got = [getattr(next(stream), "pass").timestamp_ns for _ in range(4)]
        assert got == [BASE_NS + i * S for i in (1, 2, 3, 9)]
    finally:
        stream.cancel()


def etcd_watchers(endpoint: str) -> int:
    """etcd's own count of open watchers (its /metrics on the client port)."""
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=DEADLINE_S) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("etcd_debugging_mvcc_watcher_total "):
                return int(float(line.split()[1]))
    raise AssertionError("etcd reports no watcher count")


def test_a_client_leaving_a_follow_cancels_its_etcd_watch(
    query_server: QueryServer, etcd_server: EtcdProcess
) -> None:
    query_server.store.put_passes([make_pass("w1", BASE_NS)])
    before = etcd_watchers(etcd_server.endpoint)
    stream = query_server.stub.StreamEvents(
        query_pb2.StreamEventsRequest(detector_ids=["w1"], follow=True), timeout=DEADLINE_S
    )
    next(stream)  # the server has read the stored event: its watch is open
    assert etcd_watchers(etcd_server.endpoint) == before + 1
    stream.cancel()
    wait_until(lambda: etcd_watchers(etcd_server.endpoint) == before, DEADLINE_S,
               "the etcd watch to end with its client")


def test_cancelling_a_follow_ends_it(query_server: QueryServer) -> None:
    follow = EventReader(query_server.store).follow(EventQuery(("c1",)))
    done = threading.Event()
    got: list[int] = []

    def consume() -> None:
        got.extend(p.timestamp_ns for p in follow)
        done.set()

    thread = threading.Thread(target=consume, name="follow-consumer", daemon=True)
    thread.start()
    query_server.store.put_passes([make_pass("c1", BASE_NS)])
    follow.cancel()
    follow.cancel()  # safe twice
    assert done.wait(DEADLINE_S)
    thread.join(DEADLINE_S)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (query_pb2.GetEventsRequest(detector_ids=["ok", "Bad/Id"]), "detector_ids[1]"),
        (query_pb2.GetEventsRequest(detector_ids=["../x"]), "detector_ids[0]"),
        (query_pb2.GetEventsRequest(since_ns=-1), "since_ns"),
        (query_pb2.GetEventsRequest(since_ns=5, until_ns=5), "until_ns"),
        (query_pb2.GetEventsRequest(limit=1_000_000), "limit"),
        (query_pb2.GetEventsRequest(page_token="garbage"), "page_token"),
    ],
)
def test_bad_requests_are_invalid_argument_naming_the_field(
    query_server: QueryServer, request_: query_pb2.GetEventsRequest, field: str
) -> None:
    refused(query_server.stub.GetEvents, request_, grpc.StatusCode.INVALID_ARGUMENT, field)


def test_unknown_detector_is_not_found(query_server: QueryServer) -> None:
    refused(query_server.stub.GetEvents, query_pb2.GetEventsRequest(detector_ids=["nowhere"]),
            grpc.StatusCode.NOT_FOUND, "unknown detector 'nowhere'")
    # a registered detector without events is known: empty answer
    query_server.store.register_detector(DetectorRecord("quiet", "Quiet Lane"))
    resp = query_server.stub.GetEvents(
        query_pb2.GetEventsRequest(detector_ids=["quiet"]), timeout=DEADLINE_S
    )
    assert list(resp.events) == []


def test_detectors_links_routes_and_status(query_server: QueryServer) -> None:
    store = query_server.store
    store.register_detector(DetectorRecord("north", "North gate", 52.1, 4.3, ("ble", "wifi")))
    store.register_detector(DetectorRecord("south", "South gate", 52.0, 4.3, ("wifi",)))
    store.set_links("south", [LinkRecord("north", "south", 600, 1200.0)])
    store.set_route(RouteRecord("main-road", ("north", "south")))
    store.put_status(
        "north",
        {"detector_id": "north", "reported_ns": str(BASE_NS), "buffer_depth": "12",
         "sources": [{"name": "ble", "state": "running", "sightings_per_minute": 40.5}]},
        BASE_NS,
    )
    stub = query_server.stub
    dets = stub.ListDetectors(query_pb2.ListDetectorsRequest(), timeout=DEADLINE_S).detectors
    assert {(d.id, d.name) for d in dets} == {("north", "North gate"), ("south", "South gate")}
    north = next(d for d in dets if d.id == "north")
    assert list(north.radios) == [types_pb2.RADIO_KIND_BLE, types_pb2.RADIO_KIND_WIFI]

    links = stub.GetLinks(query_pb2.GetLinksRequest(), timeout=DEADLINE_S).links
    assert [(x.src_detector_id, x.dest_detector_id, x.max_seconds, x.length_m) for x in links] \
        == [("north", "south", 600, 1200.0)]
    assert not stub.GetLinks(
        query_pb2.GetLinksRequest(dest_detector_id="north"), timeout=DEADLINE_S
    ).links

    routes = stub.ListRoutes(query_pb2.ListRoutesRequest(), timeout=DEADLINE_S).routes
    assert [(r.name, list(r.detector_ids)) for r in routes] == [("main-road", ["north", "south"])]

    statuses = stub.GetStatus(query_pb2.GetStatusRequest(), timeout=DEADLINE_S).statuses
    assert [(s.detector_id, s.buffer_depth, s.sources[0].state) for s in statuses] == [
        ("north", 12, "running")
    ]
    refused(stub.GetStatus, query_pb2.GetStatusRequest(detector_ids=["ghost"]),
            grpc.StatusCode.NOT_FOUND, "unknown detector 'ghost'")


def test_stream_event_pages_carries_the_same_events_in_pages(query_server: QueryServer) -> None:
    stored = [make_pass("p1", BASE_NS + i * S) for i in range(2500)]
    query_server.store.put_passes(stored)
    pages = list(query_server.stub.StreamEventPages(
        query_pb2.StreamEventsRequest(detector_ids=["p1"]), timeout=DEADLINE_S
    ))
    assert [len(p.events) for p in pages] == [1000, 1000, 500]
    got = [getattr(e, "pass").device_id for p in pages for e in p.events]
    assert sorted(got) == sorted(p.device_id for p in stored)

    follow = query_server.stub.StreamEventPages(
        query_pb2.StreamEventsRequest(detector_ids=["p1"], since_ns=BASE_NS + 2499 * S,
                                      follow=True),
        timeout=DEADLINE_S,
    )
    try:
        assert [getattr(e, "pass").timestamp_ns for e in next(follow).events] == [
            BASE_NS + 2499 * S
        ]
        later = [make_pass("p1", BASE_NS + (3000 + i) * S) for i in range(3)]
        query_server.store.put_passes(later)  # one transaction: one live page
        assert sorted(getattr(e, "pass").device_id for e in next(follow).events) == sorted(
            p.device_id for p in later
        )
    finally:
        follow.cancel()


def test_stream_event_columns_carries_the_pages_events_field_by_field(
    query_server: QueryServer,
) -> None:
    """Columns for clients reading many events: the very events StreamEventPages sends, in
    its order, with every field, over detectors and a time range."""
    stored = [make_pass(d, BASE_NS + i * 3 * S) for d in ("c1", "c2") for i in range(1500)]
    query_server.store.put_passes(stored)
    request = query_pb2.StreamEventsRequest(since_ns=BASE_NS + 30 * S,
                                            until_ns=BASE_NS + 4000 * S)
    events = [e for page in query_server.stub.StreamEventPages(request, timeout=DEADLINE_S)
              for e in page.events]
    columns = list(query_server.stub.StreamEventColumns(request, timeout=DEADLINE_S))
    assert [len(c.ulid) for c in columns] == [1000, 1000, 648]
    rows = []
    for c in columns:
        for i in range(len(c.ulid)):
            p = types_pb2.Pass(
                ulid=c.ulid[i], device_id=c.device_id[i], first_ns=c.first_ns[i],
                last_ns=c.last_ns[i], peak_ns=c.peak_ns[i], peak_rssi=c.peak_rssi[i],
                count=c.count[i], radio=c.radio[i], address_kind=c.address_kind[i],
                timestamp_ns=c.timestamp_ns[i], tagged=c.tagged[i], alias=c.alias[i],
                device_class=c.device_class[i])
            rows.append(query_pb2.Event(detector_id=c.detector_ids[c.detector[i]],
                                        **{"pass": p}))
    assert len(events) == 2648 and rows == events
    assert {e.detector_id for e in rows} == {"c1", "c2"}
