"""Matching passes across a link and a route."""

from roadside.central.store.records import LinkRecord
from roadside.central.traveltime.matching import index_passes, match

S = 1_000_000_000
LINK = (LinkRecord("a", "b", 600),)
DEV1 = "11" * 16
DEV2 = "22" * 16


def test_device_seen_several_times_at_src_takes_the_latest_before_dest() -> None:
    src = index_passes([(DEV1, 100 * S), (DEV1, 400 * S), (DEV1, 250 * S), (DEV1, 900 * S)])
    result = match(LINK, [src], [(DEV1, 500 * S)])
    assert result.travel_s == [100.0]  # 500 - 400, not the later pass at 900


def test_dest_without_src_is_unmatched() -> None:
    src = index_passes([(DEV1, 100 * S)])
    result = match(LINK, [src], [(DEV2, 200 * S), (DEV1, 50 * S)])
    assert result.travel_s == []
    assert result.unmatched == 2  # DEV2 never at src; DEV1's src pass is after dest


def test_src_pass_beyond_max_seconds_is_counted_too_old() -> None:
    src = index_passes([(DEV1, 100 * S), (DEV2, 100 * S)])
    result = match(LINK, [src], [(DEV1, 701 * S), (DEV2, 700 * S)])
    assert result.too_old == 1
    assert result.travel_s == [600.0]  # exactly max_seconds still counts


def test_hashing_epoch_boundary_gives_no_match() -> None:
    # the same phone gets a new device id in the next epoch: nothing can be paired
    before, after = "aa" * 16, "bb" * 16
    src = index_passes([(before, 100 * S)])
    result = match(LINK, [src], [(after, 160 * S)])
    assert result.travel_s == [] and result.unmatched == 1


def test_route_needs_the_device_along_every_hop() -> None:
    hops = (LinkRecord("a", "b", 600), LinkRecord("b", "c", 600))
    at_a = index_passes([(DEV1, 100 * S), (DEV2, 100 * S)])
    at_b = index_passes([(DEV1, 200 * S)])  # DEV2 skipped b (another road)
    result = match(hops, [at_a, at_b], [(DEV1, 350 * S), (DEV2, 330 * S)])
    assert result.travel_s == [250.0]  # whole route, a -> c
    assert result.unmatched == 1


def test_route_hop_beyond_its_max_seconds_is_too_old() -> None:
    hops = (LinkRecord("a", "b", 100), LinkRecord("b", "c", 600))
    at_a = index_passes([(DEV1, 0)])
    at_b = index_passes([(DEV1, 150 * S)])
    result = match(hops, [at_a, at_b], [(DEV1, 200 * S)])
    assert result.too_old == 1 and result.travel_s == []
