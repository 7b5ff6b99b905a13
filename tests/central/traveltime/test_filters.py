"""Per-link filters: speed bounds from the link's length and the outlier filter a link
chooses, through the real engine, SetLinks/GetLinks and the CLI."""

from __future__ import annotations

import json

import grpc
import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.store.records import DetectorRecord, LinkRecord
from roadside.central.traveltime import engine, stats
from roadside.central.traveltime.model import REJECT_IMPLAUSIBLE, REJECT_OUTLIER, Target
from roadside.common.main import main
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, query_pb2, query_pb2_grpc
from tests.fixtures.trust import ADMIN, AsOperator, Site

S = 1_000_000_000
W = 300
NEIGHBOURS = stats.as_samples([100.0] * 5)


def kept(name: str, samples: list[float]) -> list[float]:
    x = stats.as_samples(samples)
    keep = stats.FILTERS[name](x, x > 0, NEIGHBOURS, stats.Rules())
    return x[keep].tolist()


def test_each_outlier_filter_keeps_what_its_rule_says() -> None:
    arrivals = [100.0, 110.0, 300.0, 105.0, 140.0, 120.0]
    # +-25 % of the previous accepted sample (the first against the neighbours' median)
    assert kept("previous-25", arrivals) == [100.0, 110.0, 105.0, 120.0]
    assert kept("previous-45", arrivals) == [100.0, 110.0, 105.0, 140.0, 120.0]
    # 1.5 IQR of the last 15 accepted: the neighbours' 100s make 110 and up outliers
    assert kept("iqr-15", [100.0, 101.0, 99.0, 300.0]) == [100.0, 101.0, 99.0]
    assert kept("percentile-10-90", [float(v) for v in range(1, 11)]) == [
        float(v) for v in range(2, 10)]
    assert set(stats.FILTERS) == {"robust", "previous-25", "previous-45", "iqr-15",
                                  "percentile-10-90"}  # what links set --filter offers


def window(link: LinkRecord, travel_s: list[float]) -> object:
    """One window of a link: device i leaves at t0 + 10 i and takes travel_s[i]."""
    t0 = 1_800_000_000 // W * W
    src = [(f"{i:032x}", (t0 + 10 * i) * S) for i in range(len(travel_s))]
    dest = [(f"{i:032x}", int((t0 + 10 * i + tt) * S)) for i, tt in enumerate(travel_s)]
    [summary] = engine.compute_from_passes(Target((link,)), [src], dest, [t0], W,
                                           stats.Rules(k=3))
    return summary


def test_a_link_s_speed_bounds_and_filter_decide_its_samples() -> None:
    travel = [30.0, 60.0, 62.0, 64.0, 66.0, 80.0, 200.0]  # over 1 km
    plain = window(LinkRecord("a", "b", 900, 1000.0), travel)
    assert plain.rejections.get(REJECT_IMPLAUSIBLE) is None  # 120 km/h is under 200
    bounded = window(LinkRecord("a", "b", 900, 1000.0, min_speed_kmh=20, max_speed_kmh=90),
                     travel)
    # 30 s is 120 km/h, 200 s is 18 km/h: outside the link's bounds; the robust rule then
    # finds 80 s far from the others (16 s off a median of 64 s with a MAD of 2 s)
    assert bounded.rejections[REJECT_IMPLAUSIBLE] == 2
    assert bounded.rejections[REJECT_OUTLIER] == 1
    assert bounded.samples_s == (60.0, 62.0, 64.0, 66.0)
    loose = window(LinkRecord("a", "b", 900, 1000.0, 20, 90, "previous-25"), travel)
    assert REJECT_OUTLIER not in loose.rejections  # 80 s is 21 % over the 66 s before it
    assert loose.samples_s == (60.0, 62.0, 64.0, 66.0, 80.0)


def test_link_filters_round_trip_through_the_api_and_the_cli(
    central: RunningCentral, site: Site, as_operator: AsOperator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    collector = site.stub(central.collector_addr, collector_pb2_grpc.CollectorServiceStub)
    for det in ("a", "b"):
        central.store.register_detector(DetectorRecord(det))
    bad = collector_pb2.SetLinksRequest(dest_detector_id="b", sources=[
        collector_pb2.LinkSource(src_detector_id="a", max_seconds=600, length_m=900,
                                 outlier_filter="median-ish")])
    with pytest.raises(grpc.RpcError) as refused:
        collector.SetLinks(bad, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sources[0].outlier_filter: expected one of robust" in refused.value.details()
    no_length = collector_pb2.SetLinksRequest(dest_detector_id="b", sources=[
        collector_pb2.LinkSource(src_detector_id="a", max_seconds=600, max_speed_kmh=70)])
    with pytest.raises(grpc.RpcError) as refused:
        collector.SetLinks(no_length, timeout=10)
    assert "sources[0].length_m: speed bounds need the link's length" in refused.value.details()
    assert central.store.links("b") == []  # nothing written by a refused call

    as_operator(ADMIN)
    assert main(["links", "set", "b", "--src", "a:600:900", "--max-speed", "70",
                 "--min-speed", "10", "--filter", "iqr-15", "--format", "json",
                 "--collector-host", central.collector_addr]) == 0
    capsys.readouterr()
    [link] = query_pb2_grpc.QueryServiceStub(site.routed(central.query_addr)).GetLinks(
        query_pb2.GetLinksRequest(dest_detector_id="b"), timeout=10).links
    assert (link.min_speed_kmh, link.max_speed_kmh, link.outlier_filter) == (10, 70, "iqr-15")
    assert main(["links", "list", "--format", "json", "--query-host", central.query_addr]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["min_speed_kmh"], row["max_speed_kmh"], row["outlier_filter"]) == (
        10.0, 70.0, "iqr-15")
