"""Stopping central lets in-flight calls finish (what SIGTERM does) and refuses new ones."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import etcd3
import grpc
import pytest
from google.protobuf import timestamp_pb2

from roadside.central.api.server import RunningCentral
from roadside.central.store.records import DetectorRecord, LinkRecord
from roadside.proto.collector import collector_pb2, collector_pb2_grpc
from roadside.proto.v1 import query_pb2, query_pb2_grpc
from tests.fixtures.polling import wait_until
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import ANALYST, Site

DEADLINE_S = 20.0


def test_stop_drains_an_in_flight_stream(
    site: Site, start_test_central: Callable[..., RunningCentral],
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    central = start_test_central(grace_s=DEADLINE_S)
    release = threading.Event()
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())

    def messages() -> Iterator[collector_pb2.EventLog]:
        yield collector_pb2.EventLog(
            loc=collector_pb2.Coordinates(detector_id="drain-1"),
            events=[collector_pb2.DetectionEvent(time=[stamp], wifi="hash-a")],
        )
        release.wait(DEADLINE_S)  # the call stays in flight until the test lets it end

    channel = site.routed(central.collector_addr)
    stub = collector_pb2_grpc.CollectorServiceStub(channel)
    in_flight = stub.StreamEventLog.future(messages(), timeout=DEADLINE_S)
    stopper = threading.Thread(target=central.stop, name="test-stop")

    # the stream is open on the server before stop begins
    empty = collector_pb2.EventLog(loc=collector_pb2.Coordinates(detector_id="drain-1"))
    stub.CreateEventLog(empty, timeout=DEADLINE_S)
    stopper.start()
    with site.routed(central.collector_addr) as probe:
        probe_stub = collector_pb2_grpc.CollectorServiceStub(probe)

        def refused() -> bool:
            try:
                probe_stub.CreateEventLog(empty, timeout=2)
            except grpc.RpcError as exc:
                # a server shutting down refuses new calls with either code
                assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
                return True
            return False

        # the server is draining: new calls are refused
        wait_until(refused, DEADLINE_S, "the server to refuse new calls")
    release.set()
    reply = in_flight.result(timeout=DEADLINE_S)
    stopper.join(DEADLINE_S)
    channel.close()
    assert not stopper.is_alive()
    assert reply.wifi == 1
    assert len(passes_in(etcd_client, namespace, "drain-1")) == 1


def test_stop_ends_open_follow_streams_at_once_with_a_clear_status(
    site: Site,
    start_test_central: Callable[..., RunningCentral],
) -> None:
    """A tail (StreamEvents follow) or a travel-time follow never ends by itself: stop ends
    it now with UNAVAILABLE and why, not after the grace period (here far longer than the
    test waits)."""
    central = start_test_central(grace_s=600)
    central.store.register_detector(DetectorRecord("tail-1"))
    central.store.set_links("tail-1", [LinkRecord("tail-0", "tail-1", 600)])
    channel = site.routed(central.query_addr)
    stub = query_pb2_grpc.QueryServiceStub(channel)
    tail = stub.StreamEvents(query_pb2.StreamEventsRequest(detector_ids=["tail-1"], follow=True),
                             timeout=DEADLINE_S)  # bounds the test should the stream hang
    windows = stub.StreamTravelTimes(query_pb2.GetTravelTimesRequest(
        link=query_pb2.LinkRef(src_detector_id="tail-0", dest_detector_id="tail-1"),
        follow=True), timeout=DEADLINE_S)
    cli = subprocess.Popen(
        [sys.executable, "-m", "roadside.common.main", "query", "tail", "--detector", "tail-1",
         "--query-host", central.query_addr, *site.cli(ANALYST)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the three streams are open on the server before stop
    wait_until(lambda: central._streams[1].open_streams() == 3, DEADLINE_S,
               "the streams to be open")
    stopper = threading.Thread(target=central.stop, name="test-stop")
    stopper.start()
    for stream in (tail, windows):
        with pytest.raises(grpc.RpcError) as ended:
            list(stream)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "central is shutting down" in ended.value.details()
    _, err = cli.communicate(timeout=DEADLINE_S)
    assert cli.returncode == 2
    assert err == (f"roadside: error: central at {central.query_addr}: central is shutting "
                   "down: reconnect (to another central, or once it is back)\n")
    stopper.join(DEADLINE_S)
    assert not stopper.is_alive(), "stop waited for the grace period"
    channel.close()
