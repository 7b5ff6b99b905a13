"""RegisterDetector, SetLinks, ReportStatus and SetRoute through a real server and etcd."""

from __future__ import annotations

import dataclasses
import json
import time

import etcd3
import grpc
import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.store import keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.traveltime.store import link_target
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2
from tests.central import helpers
from tests.fixtures.trust import Site


@pytest.fixture
def stub(site: Site, central: RunningCentral) -> collector_pb2_grpc.CollectorServiceStub:
    channel = site.routed(central.collector_addr)
    yield collector_pb2_grpc.CollectorServiceStub(channel)
    channel.close()


@pytest.fixture
def known(stub: collector_pb2_grpc.CollectorServiceStub) -> None:
    """d0..d3 registered: links and routes name registered detectors."""
    for i in range(4):
        stub.RegisterDetector(collector_pb2.RegisterDetectorRequest(
            detector=types_pb2.Detector(id=f"d{i}", radios=[types_pb2.RADIO_KIND_BLE])))


def _source(src: str, max_seconds: int) -> collector_pb2.LinkSource:
    return collector_pb2.LinkSource(src_detector_id=src, max_seconds=max_seconds)


def test_register_detector_stored_and_first_time_kept(
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    detector = types_pb2.Detector(
        id="a12-km34", name="A12 km 34", latitude=52.1, longitude=5.2,
        radios=[types_pb2.RADIO_KIND_BLE, types_pb2.RADIO_KIND_WIFI],
    )
    first = stub.RegisterDetector(collector_pb2.RegisterDetectorRequest(detector=detector))
    assert first.detector.registered_ns > 0
    detector.name = "A12 km 34.0"
    again = stub.RegisterDetector(collector_pb2.RegisterDetectorRequest(detector=detector))
    assert again.detector.registered_ns == first.detector.registered_ns

    value, _ = etcd_client.get(keys.registry_key(namespace, "a12-km34"))
    stored = json.loads(value)
    assert stored["name"] == "A12 km 34.0"
    assert (stored["latitude"], stored["longitude"]) == (52.1, 5.2)
    assert stored["radios"] == ["ble", "wifi"]


@pytest.mark.usefixtures("known")
def test_set_links_replaces_sources_in_original_layout(
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    stub.SetLinks(collector_pb2.SetLinksRequest(
        dest_detector_id="d2", sources=[_source("d1", 600), _source("d0", 900)]))
    reply = stub.SetLinks(collector_pb2.SetLinksRequest(
        dest_detector_id="d2", sources=[_source("d1", 300)]))
    assert [(x.src_detector_id, x.dest_detector_id, x.max_seconds) for x in reply.links] == [
        ("d1", "d2", 300)]
    stored = {meta.key.decode(): json.loads(value)
              for value, meta in etcd_client.get_prefix(f"/{namespace}/links/")}
    assert list(stored) == [f"/{namespace}/links/d2/d1"]
    assert stored[f"/{namespace}/links/d2/d1"]["max_seconds"] == "300"


@pytest.mark.usefixtures("known")
def test_a_link_s_road_is_stored_given_back_and_drawn_without_recomputing_windows(
    stub: collector_pb2_grpc.CollectorServiceStub,
    etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    road = [13.405, 52.52, 13.4036, 52.5158, 13.4071, 52.5065]
    straight = stub.SetLinks(collector_pb2.SetLinksRequest(
        dest_detector_id="d2", sources=[_source("d1", 600)]))
    drawn = stub.SetLinks(collector_pb2.SetLinksRequest(
        dest_detector_id="d2", sources=[collector_pb2.LinkSource(
            src_detector_id="d1", max_seconds=600, geometry=road)]))
    assert list(drawn.links[0].geometry) == road and not straight.links[0].geometry
    [link] = EtcdStore(etcd_client, namespace).links("d2")
    assert link.line() == [[13.405, 52.52], [13.4036, 52.5158], [13.4071, 52.5065]]
    # where the road is drawn does not change a travel time: the rules stay the same
    assert link_target(link).rules_digest == link_target(
        dataclasses.replace(link, geometry=())).rules_digest


def test_report_status_latest_and_history(
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub
) -> None:
    now = time.time_ns()
    for i, depth in enumerate((5, 7)):
        status = types_pb2.AgentStatus(
            detector_id="d1", reported_ns=now + i, buffer_depth=depth, battery_voltage=12.5,
            sources=[types_pb2.SourceStatus(name="ble", state="running")],
        )
        stub.ReportStatus(collector_pb2.ReportStatusRequest(status=status))
    # an old report resent later does not replace the newer one
    stub.ReportStatus(collector_pb2.ReportStatusRequest(
        status=types_pb2.AgentStatus(detector_id="d1", reported_ns=now, buffer_depth=5)))
    [latest] = central.store.statuses(["d1"])
    assert latest["buffer_depth"] == "7"
    assert latest["sources"] == [{"name": "ble", "state": "running"}]
    history = central.store.status_history("d1")
    assert [h["buffer_depth"] for h in history] == ["5", "7"]


@pytest.mark.usefixtures("known")
def test_set_route_needs_links_between_consecutive_detectors(
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub
) -> None:
    route = collector_pb2.Route(name="a12-east", detector_ids=["d1", "d2", "d3"])
    stub.SetLinks(
        collector_pb2.SetLinksRequest(dest_detector_id="d2", sources=[_source("d1", 600)])
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.SetRoute(collector_pb2.SetRouteRequest(route=route))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "route.detector_ids[2]: no link d2 -> d3" in caught.value.details()
    assert central.store.routes() == []

    stub.SetLinks(
        collector_pb2.SetLinksRequest(dest_detector_id="d3", sources=[_source("d2", 600)])
    )
    reply = stub.SetRoute(collector_pb2.SetRouteRequest(route=route))
    assert list(reply.route.detector_ids) == ["d1", "d2", "d3"]
    [stored] = central.store.routes()
    assert (stored.name, stored.detector_ids) == ("a12-east", ("d1", "d2", "d3"))


def test_links_name_registered_detectors_and_an_upload_registers_its_radios(
    central: RunningCentral, stub: collector_pb2_grpc.CollectorServiceStub
) -> None:
    stub.RegisterDetector(collector_pb2.RegisterDetectorRequest(
        detector=types_pb2.Detector(id="pos-9", radios=[types_pb2.RADIO_KIND_BLE])))
    with pytest.raises(grpc.RpcError) as caught:
        stub.SetLinks(collector_pb2.SetLinksRequest(
            dest_detector_id="pos-9", sources=[_source("nosuch", 600)]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "sources[0].src_detector_id: unknown detector 'nosuch'" in caught.value.details()
    assert central.store.links("pos-9") == []

    # a box registered for BLE that hears WiFi, and one never registered, upload
    wifi = helpers.make_pass(radio=types_pb2.RADIO_KIND_WIFI,
                             address_kind=types_pb2.ADDRESS_KIND_WIFI_GLOBAL)
    stub.UploadBatch(helpers.make_batch("pos-9", [wifi]))
    stub.UploadBatch(helpers.make_batch("nosuch", [helpers.make_pass()]))
    assert central.store.get_detector("pos-9").radios == ("ble", "wifi")
    joined = central.store.get_detector("nosuch")
    assert joined is not None and joined.radios == ("ble",) and joined.registered_ns > 0
    stub.SetLinks(collector_pb2.SetLinksRequest(
        dest_detector_id="pos-9", sources=[_source("nosuch", 600)]))
    assert [link.src for link in central.store.links("pos-9")] == ["nosuch"]
