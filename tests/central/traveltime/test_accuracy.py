"""Accuracy against the simulator's truth: the example corridor, a morning rush hour."""

from __future__ import annotations

import pytest

from bench import corridor
from roadside.agent.sim.network import load_network
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import engine, stats, store
from tests.fixtures.traveltime import YESTERDAY, Road

W = 300
HOURS = 3.0  # 05:45 to 08:45 local: free flow, then the rush-hour slowdown at 07:00


@pytest.fixture(scope="module")
def simulated() -> corridor.Corridor:
    network = load_network()
    start = YESTERDAY.replace(hour=5, minute=45).timestamp()
    start_ns = int((start - network.utc_offset_hours * 3600) * 1e9)
    return corridor.simulated_passes(network, start_ns, HOURS * 3600, seed=11,
                                     secret=b"accuracy-test-site-secret-32byte")


def test_window_medians_follow_the_truth_and_the_slowdown(
    road: Road, simulated: corridor.Corridor
) -> None:
    network = load_network()
    for link in network.links:
        road.store.set_links(link.dest, [
            LinkRecord(link.src, link.dest, int(link.max_seconds), link.length_m)])
    road.store.put_passes(simulated.passes)
    first = simulated.truth["start_ns"] // 1_000_000_000
    starts = list(range(first - first % W, first + int(HOURS * 3600), W))
    for target in store.all_targets(road.client, road.namespace, 1800):
        computed = engine.compute_windows(
            road.client, road.namespace, target, starts, W, stats.Rules()
        )
        result = corridor.accuracy(target.src, target.dest, computed, simulated.truth)
        assert result.compared >= 0.9 * len(starts), f"{target.label()}: windows missing"
        assert result.median_abs_error_pct <= 5.0, f"{target.label()}: {result}"
        assert result.slowdown_lag_windows is not None, "the truth has a rush hour"
        assert result.slowdown_lag_windows <= 2, f"{target.label()}: slowdown seen late"
