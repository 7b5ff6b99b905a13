"""GetTravelTimes and StreamTravelTimes through a real query server on port 0."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest

from roadside.central.traveltime import engine, stats, store
from roadside.proto.v1 import query_pb2
from tests.fixtures.query import QueryServer
from tests.fixtures.traveltime import DAY_AGO_S, Road, S

W = 300
T0 = DAY_AGO_S + 3600  # a window start
RULES = stats.Rules(k=5)


def publish(road: Road, starts: list[int]) -> None:
    [target] = store.all_targets(road.client, road.namespace, 1800)
    computed = engine.compute_windows(road.client, road.namespace, target, starts, W, RULES)
    assert store.write_windows(road.client, road.namespace, [(target, w) for w in computed])


def link_request(**kw: object) -> query_pb2.GetTravelTimesRequest:
    return query_pb2.GetTravelTimesRequest(
        link=query_pb2.LinkRef(src_detector_id="a", dest_detector_id="b"), **kw  # type: ignore[arg-type]
    )


def test_get_travel_times_returns_windows_in_the_range(
    road: Road, query_server: QueryServer
) -> None:
    road.link("a", "b", max_seconds=600)
    road.trips("a", "b", (T0 + 10) * S, [100.0, 110.0, 120.0, 130.0, 140.0])
    road.trips("a", "b", (T0 + W + 10) * S, [100.0, 110.0], first_device=50)
    publish(road, [T0, T0 + W, T0 + 2 * W])
    resp = query_server.stub.GetTravelTimes(
        link_request(since_ns=(T0 + 60) * S, until_ns=(T0 + 2 * W) * S, include_samples=True)
    )
    assert [w.window_start_ns for w in resp.windows] == [T0 * S, (T0 + W) * S]
    full, thin = resp.windows
    assert full.count == 5 and not full.suppressed and full.median_s == 120.0
    assert full.p10_s == pytest.approx(104.0) and full.p90_s == pytest.approx(136.0)
    assert list(full.samples_s) == [100.0, 110.0, 120.0, 130.0, 140.0]
    # under k devices: no figures, and not even the count (trust: privacy at the API)
    assert thin.suppressed and thin.count == 0 and thin.median_s == 0 and not thin.samples_s
    # without include_samples no individual samples leave central
    plain = query_server.stub.GetTravelTimes(link_request(since_ns=T0 * S))
    assert all(not w.samples_s for w in plain.windows)


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (query_pb2.GetTravelTimesRequest(), grpc.StatusCode.INVALID_ARGUMENT, "target"),
        (query_pb2.GetTravelTimesRequest(
            link=query_pb2.LinkRef(src_detector_id="a", dest_detector_id="B/1")),
         grpc.StatusCode.INVALID_ARGUMENT, "link.dest_detector_id"),
        (query_pb2.GetTravelTimesRequest(route="Main Street"),
         grpc.StatusCode.INVALID_ARGUMENT, "route"),
        (link_request(since_ns=-1), grpc.StatusCode.INVALID_ARGUMENT, "since_ns"),
        (query_pb2.GetTravelTimesRequest(
            link=query_pb2.LinkRef(src_detector_id="b", dest_detector_id="a")),
         grpc.StatusCode.NOT_FOUND, "unknown link b -> a"),
        (query_pb2.GetTravelTimesRequest(route="nowhere"),
         grpc.StatusCode.NOT_FOUND, "unknown route"),
    ],
)
def test_bad_requests_name_the_field(
    road: Road, query_server: QueryServer, request_: query_pb2.GetTravelTimesRequest,
    code: grpc.StatusCode, field: str,
) -> None:
    road.link("a", "b")
    with pytest.raises(grpc.RpcError) as err:
        query_server.stub.GetTravelTimes(request_)
    assert err.value.code() == code
    assert field in err.value.details()


def test_stream_follows_windows_as_they_are_computed(
    road: Road, query_server: QueryServer
) -> None:
    road.link("a", "b", max_seconds=600)
    road.trips("a", "b", (T0 + 10) * S, [100.0] * 5)
    publish(road, [T0])
    stream = query_server.stub.StreamTravelTimes(link_request(since_ns=T0 * S, follow=True))
    got: queue.Queue[query_pb2.TravelTimeWindow] = queue.Queue()

    def read() -> None:
        try:
            for window in stream:
                got.put(window)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.CANCELLED

    reader = threading.Thread(target=read, name="stream-reader")
    reader.start()
    try:
        first = got.get(timeout=10)
        assert first.window_start_ns == T0 * S and first.median_s == 100.0
        # the next window completes, then late data changes the first one
        road.trips("a", "b", (T0 + W + 10) * S, [200.0] * 5, first_device=100)
        publish(road, [T0 + W])
        second = got.get(timeout=10)
        assert second.window_start_ns == (T0 + W) * S and second.median_s == 200.0
        road.trips("a", "b", (T0 + 20) * S, [100.0] * 3, first_device=200)
        publish(road, [T0])
        again = got.get(timeout=10)
        assert again.window_start_ns == T0 * S and again.count == 8
    finally:
        stream.cancel()
        reader.join(timeout=10)
    assert not reader.is_alive()
