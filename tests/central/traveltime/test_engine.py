"""The engine on real etcd: link and route windows from stored passes."""

import json
from statistics import median

from roadside.central.store import keys
from roadside.central.traveltime import engine, stats, store
from roadside.central.traveltime.model import Target
from tests.fixtures.traveltime import DAY_AGO_S, Road, S, device

RULES = stats.Rules(k=5)
W = 300
T0 = DAY_AGO_S + 3600  # a window start (multiple of 300)


def target(road: Road, src: str, dest: str) -> Target:
    [t] = [t for t in store.all_targets(road.client, road.namespace, 1800)
           if t.src == src and t.dest == dest and not t.route]
    return t


def test_link_window_summarises_the_devices_that_crossed(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    travel = [100.0, 102.0, 104.0, 106.0, 108.0, 110.0]
    road.trips("a", "b", (T0 + 10) * S, travel)
    [window] = engine.compute_windows(
        road.client, road.namespace, target(road, "a", "b"), [T0], W, RULES
    )
    assert window.count == 6 and not window.suppressed
    assert window.figures is not None and window.figures.median_s == 105.0
    assert window.samples_s == tuple(travel)
    assert window.source_revision > 0


def test_a_trip_crossing_a_window_edge_counts_where_it_arrives(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    # leave a at the end of one window, arrive at b in the next
    road.trips("a", "b", (T0 - 60) * S, [120.0] * 5)
    before, after = engine.compute_windows(
        road.client, road.namespace, target(road, "a", "b"), [T0 - W, T0], W, RULES
    )
    assert before.count == 0 and before.suppressed
    assert after.count == 5 and after.figures is not None and after.figures.median_s == 120.0


def test_too_few_devices_are_suppressed_and_misses_counted(road: Road) -> None:
    road.link("a", "b", max_seconds=200)
    road.trips("a", "b", (T0 + 10) * S, [90.0, 91.0, 92.0])
    road.trips("a", "b", (T0 + 10) * S, [250.0], first_device=100)  # beyond max_seconds
    road.passes("b", [(device(200), (T0 + 50) * S)])  # never at a
    [window] = engine.compute_windows(
        road.client, road.namespace, target(road, "a", "b"), [T0], W, RULES
    )
    assert window.suppressed and window.figures is None and window.samples_s == ()
    assert window.count == 3
    assert window.rejections == {"max_seconds": 1}
    assert window.unmatched == 1


def test_route_uses_devices_seen_along_the_whole_route(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    road.link("b", "c", max_seconds=600)
    road.route("main", "a", "b", "c")
    # through traffic a -> b -> c: 60 s + 60 s
    road.trips("a", "b", (T0 - 200) * S, [60.0] * 6)
    road.trips("b", "c", (T0 - 140) * S, [60.0] * 6)
    # local traffic a -> b only (slow, 200 s) and b -> c only (slow, 200 s): not on the route
    road.trips("a", "b", (T0 - 250) * S, [200.0] * 12, first_device=100)
    road.trips("b", "c", (T0 - 290) * S, [200.0] * 12, first_device=200)
    targets = store.all_targets(road.client, road.namespace, 1800)
    [route] = [t for t in targets if t.route == "main"]
    [window] = engine.compute_windows(road.client, road.namespace, route, [T0 - W], W, RULES)
    assert window.figures is not None
    assert window.count == 6 and window.figures.median_s == 120.0
    # adding the links' medians would have said 400 s
    link_medians = [
        engine.compute_windows(road.client, road.namespace, t, [T0 - W], W, RULES)[0]
        for t in targets if not t.route
    ]
    assert sum(median(w.samples_s) for w in link_medians) == 400.0


def test_detections_written_by_the_original_tools_are_read_too(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    for i in range(5):  # the original system's value: only a timestamp, formatted its way
        for detector, t_s in (("a", T0 + 10 + i), ("b", T0 + 70 + i)):
            key = keys.detection_key(road.namespace, detector, t_s * S,
                                     f"01HZZZZZZZZZZZZZZZZZZZZZ{i:02d}", device(i))
            road.client.put(key, json.dumps({"timestamp": str(t_s * S)}, indent=1))
    [window] = engine.compute_windows(
        road.client, road.namespace, target(road, "a", "b"), [T0], W, RULES
    )
    assert window.count == 5 and window.samples_s == (60.0,) * 5


def test_k_counts_distinct_devices_not_samples() -> None:
    """One device passing six times in a window is one device: the window stays suppressed."""
    from roadside.central.store.records import LinkRecord
    from roadside.central.traveltime import engine, stats
    from roadside.central.traveltime.model import Target

    s = 1_000_000_000
    target = Target((LinkRecord("a", "b", 600, 0.0),))
    one = [("d" * 32, 900 * s + i * 30 * s) for i in range(6)]  # six passes of one device
    at_b = [(dev, t + 100 * s) for dev, t in one]
    [window] = engine.compute_from_passes(target, [one], at_b, [900], 300, stats.Rules(k=5))
    assert window.count == 6 and window.suppressed and window.figures is None
    five = [(f"{i:032x}", 900 * s + i * 30 * s) for i in range(5)]
    [window] = engine.compute_from_passes(target, [five], [(d, t + 100 * s) for d, t in five],
                                          [900], 300, stats.Rules(k=5))
    assert not window.suppressed and window.count == 5
