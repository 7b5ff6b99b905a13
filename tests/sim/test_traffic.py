"""The traffic simulator: deterministic for a seed, following the network's profiles."""

from __future__ import annotations

import statistics

from roadside.agent.model import AddressKind, RadioKind
from roadside.sim.network import load_network
from roadside.sim.traffic import NS, simulate
from roadside.sim.truth import route_windows, window_medians

DAY0_NS = 1_764_201_600 * NS  # 2025-11-27 00:00 UTC


def fingerprint(sim: object) -> list[tuple[str, int, bytes, int | None]]:
    out = []
    for det, heard in sim.heard.items():  # type: ignore[attr-defined]
        out += [(det, h.sighting.t_ns, h.sighting.mac, h.sighting.rssi) for h in heard]
    return out


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    net = load_network()
    a = simulate(net, DAY0_NS + 7 * 3600 * NS, 900, seed=5)
    b = simulate(net, DAY0_NS + 7 * 3600 * NS, 900, seed=5)
    c = simulate(net, DAY0_NS + 7 * 3600 * NS, 900, seed=6)
    assert a.frames > 1000
    assert fingerprint(a) == fingerprint(b)
    assert a.trips == b.trips
    assert fingerprint(a) != fingerprint(c)


def test_rush_hour_is_slower_and_frames_stay_in_time_order_inside_the_period() -> None:
    net = load_network()
    early = simulate(net, DAY0_NS + 5 * 3600 * NS, 1800, seed=1)
    rush = simulate(net, DAY0_NS + 7 * 3600 * NS + 1800 * NS, 1800, seed=1)
    link = net.links[0]

    def median(sim: object) -> float:
        trips = [t for t in sim.trips if (t.src, t.dest) == (link.src, link.dest)  # type: ignore[attr-defined]
                 and t.stopped_s == 0]
        return statistics.median(t.travel_s for t in trips)

    free_s = link.length_m / (link.speed_kmh.at(5 * 3600) / 3.6)
    assert abs(median(early) - free_s) / free_s < 0.05
    assert median(rush) > 1.8 * median(early)
    for sim in (early, rush):
        for heard in sim.heard.values():
            times = [h.sighting.t_ns for h in heard]
            assert times == sorted(times)
            assert all(sim.start_ns <= t < sim.end_ns for t in times)


def test_rssi_is_strongest_near_the_detector() -> None:
    net = load_network()
    sim = simulate(net, DAY0_NS + 12 * 3600 * NS, 600, seed=2)
    passage = {(p.vehicle, p.detector): p.t_ns for p in sim.passages}
    near, far = [], []
    for det, heard in sim.heard.items():
        for h in heard:
            center = passage.get((h.vehicle, det))  # None: it passed just before the start
            if h.sighting.radio is not RadioKind.WIFI or h.sighting.rssi is None or not center:
                continue
            gap_s = abs(h.sighting.t_ns - center) / NS
            (near if gap_s < 1.5 else far if gap_s > 5 else []).append(h.sighting.rssi)
    assert statistics.mean(near) > statistics.mean(far) + 6


def test_randomized_wifi_addresses_rotate_and_global_ones_do_not() -> None:
    net = load_network()
    sim = simulate(net, DAY0_NS + 12 * 3600 * NS, 1800, seed=3)
    macs: dict[tuple[int, AddressKind], set[bytes]] = {}
    for heard in sim.heard.values():
        for h in heard:
            if h.sighting.radio is RadioKind.WIFI:
                macs.setdefault((h.vehicle, h.sighting.address_kind), set()).add(h.sighting.mac)
    local = [len(v) for (_, kind), v in macs.items() if kind is AddressKind.WIFI_LOCAL]
    global_ = [len(v) for (_, kind), v in macs.items() if kind is AddressKind.WIFI_GLOBAL]
    assert global_ and all(n == 1 for n in global_)
    assert max(local) > 1
    for (_, kind), v in macs.items():
        for mac in v:
            assert bool(mac[0] & 0x02) == (kind is AddressKind.WIFI_LOCAL)


def test_truth_windows_are_medians_of_trips_by_arrival_window() -> None:
    net = load_network()
    sim = simulate(net, DAY0_NS + 8 * 3600 * NS, 1200, seed=4)
    windows = window_medians(sim.trips)
    assert sum(w["count"] for w in windows) == len(sim.trips)
    w = windows[0]
    inside = [t.travel_s for t in sim.trips if (t.src, t.dest) == (w["src"], w["dest"])
              and w["window_start_s"] <= t.dest_ns // NS < w["window_start_s"] + 300]
    assert w["median_s"] == round(statistics.median(inside), 3)


def test_route_truth_counts_vehicles_that_drove_the_whole_route() -> None:
    net = load_network()
    sim = simulate(net, DAY0_NS + 12 * 3600 * NS, 1800, seed=6)
    route = net.routes[0]
    hops = list(zip(route.detector_ids, route.detector_ids[1:], strict=False))
    legs = {(t.vehicle, t.src, t.dest): t for t in sim.trips}
    totals = {}
    for v in {t.vehicle for t in sim.trips}:
        path = [legs.get((v, a, b)) for a, b in hops]
        if all(path):
            totals[v] = (path[-1].dest_ns - path[0].src_ns) / NS  # type: ignore[union-attr]
    windows = route_windows(sim.trips, net.routes)
    assert sum(w["count"] for w in windows) == len(totals) > 0
    every = sorted(totals.values())
    assert min(w["median_s"] for w in windows) >= every[0] - 0.001
    assert max(w["median_s"] for w in windows) <= every[-1] + 0.001
