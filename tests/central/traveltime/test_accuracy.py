"""Accuracy against the simulator's truth: the example corridor, a morning rush hour;
window medians and the reliability indices of the reports."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from bench import corridor
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import engine, stats, store
from roadside.sim.network import EXAMPLE, Network, load_network, parse_network
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
        indices = corridor.reliability(target.src, target.dest, computed, simulated.truth)
        assert set(indices) == {"TTI", "PTI", "BI", "95th"}, target.label()
        for name, (measured, true) in indices.items():  # the reports' SQL, both sides
            assert measured == pytest.approx(true, rel=0.05), f"{target.label()} {name}"


def mixed_corridor() -> Network:
    """The example corridor with cyclists and pedestrians on it, car kits in more cars."""
    text = resources.files("roadside.sim.networks").joinpath(EXAMPLE).read_text()
    data = yaml.safe_load(text)
    data["radios"]["bt_classic"]["share"] = 0.5
    data["travellers"] = {
        "cyclist": {"per_hour": 600, "speed_kmh": 18, "carry": {"ble": 0.6, "wifi": 0.4,
                                                                "bt_classic": 0.3}},
        "pedestrian": {"per_hour": 300, "speed_kmh": 5, "carry": {"ble": 0.6, "wifi": 0.4,
                                                                  "bt_classic": 0.3}},
    }
    return parse_network(data, "mixed corridor")


def test_a_vehicle_only_link_ignores_the_cyclists_that_bias_all_devices(road: Road) -> None:
    network = mixed_corridor()
    start = YESTERDAY.replace(hour=10).timestamp()
    start_ns = int((start - network.utc_offset_hours * 3600) * 1e9)
    sim = corridor.simulated_passes(network, start_ns, 2 * 3600, seed=5,
                                    secret=b"mixed-test-site-secret-0123456789")
    road.store.put_passes(sim.passes)
    first = sim.truth["start_ns"] // 1_000_000_000
    starts = list(range(first - first % W + W, first + 2 * 3600 - W, W))
    link = network.links[0]  # 1.55 km: a car in ~2 minutes, a bike in ~5

    def result(vehicle_only: bool) -> corridor.LinkAccuracy:
        road.store.set_links(link.dest, [LinkRecord(link.src, link.dest, int(link.max_seconds),
                                                    link.length_m, vehicle_only=vehicle_only)])
        [target] = [t for t in store.all_targets(road.client, road.namespace, 1800)
                    if t.dest == link.dest]
        computed = engine.compute_windows(road.client, road.namespace, target, starts, W,
                                          stats.Rules())
        if vehicle_only:
            assert all(w.by_class.keys() <= {"vehicle"} for w in computed)
        else:
            assert any(w.by_class.get("unknown") for w in computed)  # BLE and WiFi too
        return corridor.accuracy(link.src, link.dest, computed, sim.truth)

    everyone, vehicles = result(False), result(True)
    assert everyone.median_abs_error_pct > 20.0, everyone  # the cyclists pull it up
    assert vehicles.compared >= 0.8 * len(starts), vehicles
    assert vehicles.median_abs_error_pct <= 5.0, vehicles
