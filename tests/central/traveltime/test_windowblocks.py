"""Windows stored as hour blocks on a real etcd: what is written reads back the same, a
window without data keeps only its start, an hour written twice keeps both writes, and
the per-window JSON keys of the earlier layout are still read, then replaced."""

from __future__ import annotations

import dataclasses

from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import store, windowblocks
from roadside.central.traveltime.model import Figures, Target, WindowSummary
from tests.fixtures.traveltime import Road

S = 1_000_000_000
HOUR = 1_796_000_400  # an hour's start, unix s
LINK = Target((LinkRecord("a", "b", 600),))
ROUTE = Target((LinkRecord("a", "b", 600), LinkRecord("b", "c", 600)), route="r1")


def busy(start_s: int, target: Target = LINK) -> WindowSummary:
    return WindowSummary(
        src=target.src, dest=target.dest, route=target.route, window_start_ns=start_s * S,
        window_end_ns=(start_s + 300) * S, count=3, suppressed=False, devices=3,
        figures=Figures(61.5, 60.1, 60.8, 62.25, 63.0, 0.75), rejections={"outlier": 1},
        unmatched=4, samples_s=(61.5, 60.125, 63.0), computed_ns=start_s * S + 7,
        source_revision=41, worker="w1", by_class={"unknown": 3},
        by_address_kind={"ble_public": 3}, clock_corrected={"a": 1.5})


def empty(start_s: int, revision: int = 40, target: Target = LINK) -> WindowSummary:
    return WindowSummary(
        src=target.src, dest=target.dest, route=target.route, window_start_ns=start_s * S,
        window_end_ns=(start_s + 300) * S, count=0, suppressed=True, figures=None,
        computed_ns=start_s * S + 9, source_revision=revision, worker="w1")


def suppressed(start_s: int) -> WindowSummary:
    return dataclasses.replace(empty(start_s), suppressed=True, count=0, unmatched=2)


def test_a_block_reads_back_what_was_written() -> None:
    windows = [busy(HOUR), empty(HOUR + 300, 38), suppressed(HOUR + 600),
               empty(HOUR + 900, 45), busy(HOUR + 1200, ROUTE)]
    got = windowblocks.decode(windowblocks.encode(LINK, HOUR, windows[:4]))
    assert got[0] == windows[0] and got[2] == windows[2]  # with data: all of it
    for w, e in ((got[1], windows[1]), (got[3], windows[3])):  # no data: the start
        assert (w.window_start_ns, w.window_end_ns, w.count, w.figures) == \
            (e.window_start_ns, e.window_end_ns, 0, None)
        assert w.source_revision == 38  # the oldest: a pass newer than it recomputes
    route = windowblocks.decode(windowblocks.encode(ROUTE, HOUR, [windows[4]]))
    assert route == [windows[4]]
    # nobody seen costs a few bytes, not a window's worth
    twelve = windowblocks.encode(LINK, HOUR, [empty(HOUR + i * 300) for i in range(12)])
    assert len(twelve) < 100 < len(busy(HOUR).to_json()) / 4


def test_hours_are_written_together_read_across_layouts_and_replace_old_keys(
    road: Road,
) -> None:
    client, ns = road.client, road.namespace
    old = empty(HOUR + 300)
    client.put(LINK.window_key(ns, HOUR + 300), old.to_json())  # the earlier layout
    client.put(LINK.window_key(ns, HOUR + 3600), busy(HOUR + 3600).to_json())
    assert store.write_windows(client, ns, [(LINK, busy(HOUR))])
    assert store.write_windows(client, ns, [(LINK, empty(HOUR + 600)), (LINK, busy(HOUR + 4200))])
    found = [w for w, _rev in store.read_windows(client, ns, LINK)]
    assert [w.window_start_ns // S - HOUR for w in found] == [0, 300, 600, 3600, 4200]
    assert found[0] == busy(HOUR) and found[3] == busy(HOUR + 3600)
    # writing an hour moved its per-window keys into the block
    assert client.get(LINK.window_key(ns, HOUR + 300))[0] is None
    assert client.get(LINK.window_key(ns, HOUR + 3600))[0] is None
    assert [w.window_start_ns // S - HOUR for w, _r in
            store.read_windows(client, ns, LINK, HOUR + 300, HOUR + 3601)] == [300, 600, 3600]
    # a window computed again replaces its earlier figure, the others stay
    again = dataclasses.replace(busy(HOUR), count=5, source_revision=99)
    assert store.write_windows(client, ns, [(LINK, again)])
    found = [w for w, _rev in store.read_windows(client, ns, LINK, HOUR, HOUR + 3600)]
    assert found[0] == again and len(found) == 3


def test_a_lost_lock_writes_nothing(road: Road) -> None:
    client, ns = road.client, road.namespace
    client.put("/lock", "mine")
    created = client.get("/lock")[1].create_revision
    client.delete("/lock")
    client.put("/lock", "another worker's")
    assert not store.write_windows(client, ns, [(LINK, busy(HOUR))], "/lock", created)
    assert store.read_windows(client, ns, LINK) == []
