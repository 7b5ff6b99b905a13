"""Clock offsets: central estimates a box's offset from its uploads, shows and flags it; the
engine corrects a known offset or leaves the detector out, and says which; a detector 20 s
ahead biases its link without correction and is within 1 s of the truth with it."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

import etcd3
import pytest

from bench import corridor
from roadside.central.api.server import RunningCentral
from roadside.central.http.feeds import Feeds
from roadside.central.store import keys
from roadside.central.store.clocks import ClockEstimate
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import engine, stats, store
from roadside.central.traveltime.model import WindowSummary
from roadside.common.main import main
from roadside.proto.v1 import (
    collector_pb2,
    collector_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    types_pb2,
)
from roadside.sim.network import load_network
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.traveltime import YESTERDAY, Road
from tests.fixtures.trust import ANALYST, Site

OFFSET_S = 20.0
W = 300


def upload_from_a_fast_box(central: RunningCentral, site: Site, detector: str, ahead_s: float,
                           batches: int = 8) -> None:
    collector = site.stub(central.collector_addr, collector_pb2_grpc.CollectorServiceStub)
    for i in range(batches):
        batch = make_batch(detector, [make_pass(device=i + 1)])
        batch.sent_ns = time.time_ns() + int(ahead_s * S) if ahead_s else 0
        collector.UploadBatch(batch, timeout=10)
    status = types_pb2.AgentStatus(detector_id=detector, reported_ns=time.time_ns(),
                                   clock_sync=types_pb2.CLOCK_SYNC_UNSYNCED)
    collector.ReportStatus(collector_pb2.ReportStatusRequest(status=status), timeout=10)


def test_a_box_20_s_ahead_is_estimated_shown_and_flagged(
    central: RunningCentral, site: Site, capsys: pytest.CaptureFixture[str],
) -> None:
    upload_from_a_fast_box(central, site, "det-a", OFFSET_S)
    upload_from_a_fast_box(central, site, "det-b", 0.0)  # an agent that does not say
    query = site.stub(central.query_addr, query_pb2_grpc.QueryServiceStub)
    statuses = {s.detector_id: s for s in query.GetStatus(
        query_pb2.GetStatusRequest(detector_ids=["det-a", "det-b"]), timeout=10).statuses}
    fast = statuses["det-a"]
    assert fast.clock_offset_s == pytest.approx(OFFSET_S, abs=1.0)
    assert fast.clock_offset_samples >= 5 and fast.clock_flagged  # stored once usable
    assert statuses["det-b"].clock_offset_samples == 0 and not statuses["det-b"].clock_flagged

    assert main(["query", "status", "--detector", "det-a", "--format", "json",
                 "--query-host", central.query_addr, *site.cli(ANALYST)]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["clock_offset_s"] == pytest.approx(OFFSET_S, abs=1.0) and row["clock_flagged"]
    assert row["clock_sync"] == "unsynced"

    health = {h["id"]: h for h in Feeds(central.store).health()}
    assert health["det-a"]["state"] == "clock_off"
    assert health["det-a"]["clock_offset_s"] == pytest.approx(OFFSET_S, abs=1.0)
    assert health["det-b"]["state"] == "ok" and health["det-b"]["clock_offset_s"] is None


@pytest.fixture(scope="module")
def simulated() -> corridor.Corridor:

    network = load_network()
    start = YESTERDAY.replace(hour=10).timestamp()
    start_ns = int((start - network.utc_offset_hours * 3600) * 1e9)
    return corridor.simulated_passes(network, start_ns, 2 * 3600, seed=3,
                                     secret=b"clock-test-site-secret-0123456789")


def test_a_20_s_offset_biases_its_link_unless_corrected_or_excluded(
    road: Road, simulated: corridor.Corridor, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    src, dest = "north-gate", "mill-bridge"
    ahead = int(OFFSET_S * S)  # mill-bridge's box runs 20 s fast: its passes say so
    road.store.put_passes([dataclasses.replace(
        p, timestamp_ns=p.timestamp_ns + ahead, first_ns=p.first_ns + ahead,
        last_ns=p.last_ns + ahead, peak_ns=p.peak_ns + ahead) if p.detector_id == dest else p
        for p in simulated.passes])
    etcd_client.put(keys.clock_key(namespace, dest),
                    ClockEstimate(OFFSET_S + 0.05, 32, time.time_ns()).to_json())
    road.store.set_links(dest, [LinkRecord(src, dest, 900, 1550.0)])
    [link] = [t for t in store.all_targets(etcd_client, namespace, 1800) if t.dest == dest]
    first = simulated.truth["start_ns"] // S
    starts = list(range(first - first % W + W, first + 2 * 3600 - W, W))

    def run(mode: str) -> list[WindowSummary]:
        return engine.compute_windows(etcd_client, namespace, link, starts, W, stats.Rules(),
                                      clocks=engine.ClockPolicy(mode))

    truth = {int(w["window_start_s"]): float(w["median_s"]) for w in simulated.truth["windows"]
             if w["src"] == src and w["dest"] == dest}

    def errors(windows: list[WindowSummary]) -> list[float]:
        return [w.figures.median_s - truth[w.window_start_ns // S] for w in windows
                if w.figures is not None and w.window_start_ns // S in truth]

    ignored, corrected, excluded = run("ignore"), run("correct"), run("exclude")
    assert statistics.median(errors(ignored)) > 15.0  # 20 s longer, less the filter's trims
    assert abs(statistics.median(errors(corrected))) < 1.0
    assert len(errors(corrected)) >= 0.8 * len(starts)
    assert all(w.clock_corrected == {dest: pytest.approx(OFFSET_S + 0.05)} for w in corrected)
    assert not ignored[0].clock_corrected and not ignored[0].clock_excluded
    assert all(w.clock_excluded == (dest,) and w.count == 0 for w in excluded)
