"""Detection shards: two detection etcds beside the control one. Detectors' passes go to
their shard and are read back through the APIs and the travel-time engine; one shard down
refuses only its detectors, while the others, the aggregates and health keep working."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import etcd3
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.central.api.server import RunningCentral
from roadside.central.errors import InvalidArgument
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.store.records import LinkRecord, StoredPass
from roadside.central.store.shards import CONTROL, Shards, ShardsMismatch, parse_shards
from roadside.central.traveltime import engine, stats, store
from roadside.central.traveltime.model import Target, WindowSummary
from roadside.common.main import main
from roadside.proto.v1 import collector_pb2_grpc, query_pb2, query_pb2_grpc, types_pb2
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import wait_until
from tests.fixtures.stored import passes_in
from tests.fixtures.traveltime import stored_pass
from tests.fixtures.trust import Site

W = 300
TRAVEL_S = 60
Uploaded = tuple[RunningCentral, Any, int, dict[str, list[types_pb2.Pass]]]
PLACES = {"up": "s1", "down": "s2", "side": "s1"}  # up -> down crosses the shards


@pytest.fixture
def shard_etcds(tmp_path: Path) -> Iterator[dict[str, EtcdProcess]]:
    procs = {name: EtcdProcess(tmp_path / name) for name in ("s1", "s2")}
    for proc in procs.values():
        proc.start()
    yield procs
    for proc in procs.values():
        proc.stop()


@pytest.fixture
def shard_clients(shard_etcds: dict[str, EtcdProcess],
                  ) -> Iterator[dict[str, etcd3.MultiEndpointEtcd3Client]]:
    clients = {name: connect([proc.endpoint]) for name, proc in shard_etcds.items()}
    yield clients
    for client in clients.values():
        client.close()


def sharded_central(start: StartCentral, etcds: dict[str, EtcdProcess],
                    control: etcd3.MultiEndpointEtcd3Client, namespace: str) -> RunningCentral:
    central = start(detection_shards=tuple(f"{n}={p.endpoint}" for n, p in etcds.items()))
    for detector_id, shard in PLACES.items():  # planned before their first uploads
        central.store.shards.set_shard(detector_id, shard)
    central.store.set_links("down", [LinkRecord("up", "down", max_seconds=600)])
    return central


def trips(t0_s: int, devices: range) -> dict[str, list[types_pb2.Pass]]:
    """Each device at `up` and TRAVEL_S later at `down`; `side` hears the same devices."""
    up = [make_pass((t0_s + 10 + i) * S, device=d) for i, d in enumerate(devices)]
    down = [make_pass((t0_s + 10 + i + TRAVEL_S) * S, device=d) for i, d in enumerate(devices)]
    side = [make_pass((t0_s + 20 + i) * S, device=d) for i, d in enumerate(devices)]
    return {"up": up, "down": down, "side": side}


@pytest.fixture
def uploaded(start_test_central: StartCentral, shard_etcds: dict[str, EtcdProcess],
             etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, site: Site,
             ) -> Uploaded:
    """A sharded central, its collector stub, and trips up -> down uploaded through it."""
    central = sharded_central(start_test_central, shard_etcds, etcd_client, namespace)
    t0 = (int(time.time()) - 3 * W) // W * W
    sent = trips(t0, range(1, 8))
    collector = site.stub(central.collector_addr, collector_pb2_grpc.CollectorServiceStub)
    for detector_id, passes in sent.items():
        collector.UploadBatch(make_batch(detector_id, passes), timeout=10)
    return central, collector, t0, sent


def link_windows(control: etcd3.MultiEndpointEtcd3Client, namespace: str,
                 shard_clients: dict[str, etcd3.MultiEndpointEtcd3Client], t0: int,
                 ) -> tuple[Target, list[WindowSummary]]:
    """The up -> down link's window at t0, computed from both shards."""
    shards = Shards(control, namespace, shard_clients)
    [link] = [t for t in store.all_targets(control, namespace, 1800) if t.dest == "down"]
    return link, engine.compute_windows(control, namespace, link, [t0], W, stats.Rules(k=5),
                                        shards=shards)


def health(central: RunningCentral, service: str) -> int:
    """The plaintext health port's answer, as a probe asks it."""
    with grpc.insecure_channel(central.health_addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def test_detectors_passes_are_on_their_shards_and_read_as_one_store(
    uploaded: Uploaded, shard_clients: dict[str, etcd3.MultiEndpointEtcd3Client],
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, site: Site,
) -> None:
    central, collector, t0, sent = uploaded
    collector.UploadBatch(make_batch("newcomer", [make_pass(device=9)]), timeout=10)

    # each detector's passes on its shard alone; none in the control etcd
    assert passes_in(etcd_client, namespace) == {}
    for detector_id, shard in PLACES.items():
        on_shard = passes_in(shard_clients[shard], namespace, detector_id)
        assert sorted(p.ulid for p in on_shard.values()) == sorted(
            p.ulid for p in sent[detector_id])
        other = shard_clients["s2" if shard == "s1" else "s1"]
        assert passes_in(other, namespace, detector_id) == {}
    mapping = central.store.shards.mapping()
    assert {d: mapping[d] for d in PLACES} == PLACES
    assert mapping["newcomer"] in ("s1", "s2")  # chosen at its first upload

    # the events query reads both shards as one store, in time order
    query = site.stub(central.query_addr, query_pb2_grpc.QueryServiceStub)
    reply = query.GetEvents(query_pb2.GetEventsRequest(limit=100), timeout=10)
    got = [getattr(e, "pass") for e in reply.events]
    assert len(got) == 7 * 3 + 1
    assert [p.timestamp_ns for p in got] == sorted(p.timestamp_ns for p in got)
    assert {e.detector_id for e in reply.events} == {*PLACES, "newcomer"}

    # the engine matches a link across the shards
    _link, windows = link_windows(etcd_client, namespace, shard_clients, t0)
    assert [(w.count, w.samples_s) for w in windows] == [(7, (float(TRAVEL_S),) * 7)]


def test_a_shard_down_refuses_only_its_detectors(
    uploaded: Uploaded, shard_etcds: dict[str, EtcdProcess],
    shard_clients: dict[str, etcd3.MultiEndpointEtcd3Client],
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, site: Site,
) -> None:
    central, collector, t0, _sent = uploaded
    link, computed = link_windows(etcd_client, namespace, shard_clients, t0)
    assert store.write_windows(etcd_client, namespace, [(link, w) for w in computed])

    shard_etcds["s2"].stop()
    with pytest.raises(grpc.RpcError) as refused:
        collector.UploadBatch(make_batch("down", [make_pass(device=20)]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shard s2" in refused.value.details()
    # the other shard's detectors upload and read on
    collector.UploadBatch(make_batch("side", [make_pass(device=21)]), timeout=10)
    query = site.stub(central.query_addr, query_pb2_grpc.QueryServiceStub)
    reply = query.GetEvents(query_pb2.GetEventsRequest(detector_ids=["up", "side"], limit=100),
                            timeout=10)
    assert len(reply.events) == 7 * 2 + 1
    with pytest.raises(grpc.RpcError) as unread:
        query.GetEvents(query_pb2.GetEventsRequest(detector_ids=["down"]), timeout=10)
    assert unread.value.code() == grpc.StatusCode.UNAVAILABLE
    # the aggregates live in the control etcd
    times = query.GetTravelTimes(query_pb2.GetTravelTimesRequest(
        link=query_pb2.LinkRef(src_detector_id="up", dest_detector_id="down"),
        since_ns=t0 * S), timeout=10)
    assert [(w.count, w.median_s) for w in times.windows] == [(7, float(TRAVEL_S))]
    # health names the shard that is down; the server as a whole serves
    serving = health_pb2.HealthCheckResponse.SERVING
    wait_until(lambda: health(central, "roadside.shard.s2") != serving, 30,
               "shard s2 reported down")
    assert health(central, "") == serving
    assert health(central, "roadside.shard.s1") == serving

    shard_etcds["s2"].start()
    wait_until(lambda: health(central, "roadside.shard.s2") == serving, 30,
               "shard s2 back")
    collector.UploadBatch(make_batch("down", [make_pass(device=20)]), timeout=10)
    assert len(passes_in(shard_clients["s2"], namespace, "down")) == 8


def test_detectors_stored_before_shards_stay_in_the_control_etcd(
    shard_clients: dict[str, etcd3.MultiEndpointEtcd3Client],
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    before = EtcdStore(etcd_client, namespace)
    before.put_passes([_stored("old", 1)])
    after = EtcdStore(etcd_client, namespace)
    after.use_shards(shard_clients)
    after.put_passes([_stored("old", 2), _stored("new", 3)])
    mapping = after.shards.mapping()
    assert mapping["old"] == CONTROL and mapping["new"] in shard_clients
    assert len(passes_in(etcd_client, namespace, "old")) == 2
    assert passes_in(etcd_client, namespace, "new") == {}
    got = list(EventReader(after).iter_events(EventQuery()))
    assert sorted(p.detector_id for p in got) == ["new", "old", "old"]
    with pytest.raises(InvalidArgument, match="already has its shard"):
        after.shards.set_shard("new", "s1" if mapping["new"] == "s2" else "s2")
    with pytest.raises(InvalidArgument, match="not one of"):
        after.shards.set_shard("planned", "s9")
    after.close()
    before.close()


def _stored(detector_id: str, device: int) -> StoredPass:
    return stored_pass(detector_id, f"{device:032x}", time.time_ns() - device * S)


@pytest.mark.parametrize(("entries", "field"), [
    (["s1"], "NAME=HOST:PORT"), (["control=127.0.0.1:1"], "not 'control'"),
    (["S 1=127.0.0.1:1"], "shard name"),
])
def test_shard_settings_are_checked(entries: list[str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_shards(entries)
    assert parse_shards(["a=h1:1", "b=h2:2", "a=h3:3"]) == {"a": ("h1:1", "h3:3"),
                                                            "b": ("h2:2",)}



def test_shards_list_and_place_from_the_command_line(
    shard_etcds: dict[str, EtcdProcess], etcd_server: EtcdProcess, namespace: str,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "central.yaml"
    config.write_text("central:\n  detection_shards:\n" + "".join(
        f"    - {name}={proc.endpoint}\n" for name, proc in shard_etcds.items()))
    flags = ["--config", str(config), "--etcd-endpoints", etcd_server.endpoint,
             "--namespace", namespace]
    assert main(["shards", "place", "km12-north", "s2", *flags]) == 0
    assert main(["shards", "place", "km12-north", "s1", *flags]) == 2
    assert "km12-north already has its shard (s2)" in capsys.readouterr().err
    assert main(["shards", "place", "km13", "s9", *flags]) == 2
    assert "'s9' is not one of control, s1, s2" in capsys.readouterr().err
    shard_etcds["s2"].stop()
    assert main(["shards", "list", "--format", "json", *flags]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"detector_id": "km12-north", "shard": "s2", "shard_up": False}]


def test_a_process_without_the_sites_shards_refuses_to_start(
    start_test_central: StartCentral, shard_etcds: dict[str, EtcdProcess],
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    sharded_central(start_test_central, shard_etcds, etcd_client, namespace)
    with pytest.raises(ShardsMismatch, match=re.escape("uses shard(s) s1, s2 that this")):
        start_test_central()  # a replica someone forgot to give the shards
    with pytest.raises(ShardsMismatch, match="s2"):
        Shards(etcd_client, namespace, {"s1": etcd_client}).check_site()
