"""Workers on real etcd: publishing, late data, sharing destinations, taking over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import etcd3.events
import etcd3.exceptions
import pytest

from roadside.central.store import keys
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import backfill
from roadside.central.traveltime import store as ttstore
from roadside.central.traveltime.model import Target, WindowSummary
from roadside.central.traveltime.worker import TravelTimeWorker
from tests.fixtures.polling import eventually
from tests.fixtures.traveltime import Road, S, windows

W = 2  # window seconds: short, so windows close while the test runs
FAST = {"window_s": W, "grace_s": 0.3, "backfill_s": 40, "lock_ttl_s": 2}
REPO = Path(__file__).resolve().parents[3]


def past_window(ago_s: int) -> int:
    now = int(time.time())
    return (now - ago_s) // W * W


async def test_closed_window_is_published_and_late_data_recomputes_it(road: Road) -> None:
    road.link("a", "b", max_seconds=5)
    ws = past_window(12)
    road.trips("a", "b", ws * S, [1.0, 1.1, 1.2, 1.3, 1.4], spacing_s=0.1)
    async with TravelTimeWorker(road.client, road.config(worker_id="w1", **FAST)):
        await eventually(lambda: ws in windows(road, "a", "b"),
                         what="the window to be published", in_thread=True)
        first, version = windows(road, "a", "b")[ws]
        assert first.count == 5 and first.figures is not None
        assert first.figures.median_s == 1.2 and version == 1
        assert first.worker == "w1"
        # an agent that was offline uploads three more trips of that window
        road.trips("a", "b", ws * S, [1.5, 1.5, 1.5], first_device=100, spacing_s=0.1)
        await eventually(lambda: windows(road, "a", "b")[ws][0].count == 8,
                         what="the window to be recomputed with the late trips", in_thread=True)

        def markers_left() -> int:
            return sum(1 for prefix in (keys.dirty_prefix(road.namespace),
                                        keys.pending_prefix(road.namespace))
                       for _ in road.client.get_prefix(prefix))

        # the late markers get consumed: nothing dirty or pending is left behind
        await eventually(lambda: markers_left() == 0,
                         what="the late-data markers to be cleared", in_thread=True)
    again, version = windows(road, "a", "b")[ws]
    assert again.figures is not None and again.figures.median_s == 1.35
    assert version >= 2


async def test_two_workers_share_destinations_and_never_write_a_window_twice(
    road: Road,
) -> None:
    dests = ["b", "c", "d", "e"]
    for dest in dests:
        road.link("a", dest, max_seconds=5)
    ws = past_window(10)
    for n, dest in enumerate(dests):
        road.trips("a", dest, ws * S, [1.0 + n / 10] * 6, first_device=n * 100, spacing_s=0.1)
    started = int(time.time())
    w1 = TravelTimeWorker(road.client, road.config(worker_id="w1", **FAST))
    w2 = TravelTimeWorker(road.client, road.config(worker_id="w2", **FAST))
    async with w1, w2:
        def live_windows_everywhere() -> bool:
            return all(max(windows(road, "a", d), default=0) >= started + 2 * W for d in dests)
        await eventually(live_windows_everywhere, what="live windows on every link", in_thread=True)
    every = [w for d in dests for w in windows(road, "a", d).values()]
    assert every and all(version == 1 for _w, version in every), "a window written twice"
    assert {w.worker for w, _v in every} == {"w1", "w2"}, "the destinations were not shared"
    for n, dest in enumerate(dests):
        summary, _version = windows(road, "a", dest)[ws]
        assert summary.figures is not None and summary.figures.median_s == 1.0 + n / 10


async def test_killed_worker_destinations_are_taken_over(
    road: Road, etcd_server: EtcdProcess
) -> None:
    road.link("a", "b", max_seconds=5)
    lock = keys.worker_lock_name(road.namespace, "b")
    cmd = [
        sys.executable, "-m", "roadside.common.main", "central", "worker",
        "--etcd-endpoints", etcd_server.endpoint, "--namespace", road.namespace,
        "--worker-id", "victim", "--window-s", str(W), "--grace-s", "0.3",
        "--lock-ttl-s", "2", "--backfill-s", "20", "--metrics-port", "0",
    ]
    victim = await asyncio.create_subprocess_exec(
        *cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: road.client.get(lock)[0] == b"victim",
                         what="victim to lock b", in_thread=True)
        await eventually(lambda: any(w.worker == "victim"
                                     for w, _v in windows(road, "a", "b").values()),
                         what="victim to publish", in_thread=True)
        victim.send_signal(signal.SIGKILL)
        await asyncio.wait_for(victim.wait(), timeout=10)
        killed_at = int(time.time())
    finally:
        if victim.returncode is None:
            victim.kill()
            await asyncio.wait_for(victim.wait(), timeout=10)
    async with TravelTimeWorker(road.client, road.config(worker_id="heir", **FAST)):
        await eventually(lambda: road.client.get(lock)[0] == b"heir",
                         what="heir to lock b", in_thread=True)
        await eventually(lambda: any(w.worker == "heir" and ws > killed_at
                                     for ws, (w, _v) in windows(road, "a", "b").items()),
                         what="heir to publish the windows after the kill", in_thread=True)
    every = windows(road, "a", "b")
    assert all(version == 1 for _w, version in every.values()), "a window written twice"
    starts = sorted(every)
    assert starts == list(range(starts[0], starts[-1] + W, W)), "a window was skipped"


async def test_worker_rides_out_an_etcd_restart(road: Road, private_etcd: EtcdProcess) -> None:
    client = connect([private_etcd.endpoint])
    own = Road(EtcdStore(client, road.namespace), client, road.namespace)
    own.link("a", "b", max_seconds=5)
    try:
        async with TravelTimeWorker(client, own.config(worker_id="w1", **FAST)) as worker:
            await eventually(lambda: worker.published > 0, what="a first window")
            private_etcd.kill()
            await asyncio.to_thread(private_etcd.start)
            back = int(time.time())

            def published_since_back() -> bool:
                try:
                    return max(windows(own, "a", "b"), default=0) > back + W
                except (etcd3.exceptions.ConnectionFailedError,
                        etcd3.exceptions.NoServerAvailableError):
                    return False  # our client waits a moment before trying etcd again

            await eventually(published_since_back,
                             what="windows published after etcd came back", in_thread=True)
    finally:
        client.close()


async def test_windows_expire_with_a_retention_lease_renewed_when_gone(road: Road) -> None:
    road.link("a", "b", max_seconds=5)
    ws = past_window(12)
    road.trips("a", "b", ws * S, [1.0, 1.1, 1.2, 1.3, 1.4], spacing_s=0.1)
    key = keys.window_hour_key(keys.link_windows_prefix(road.namespace, "a", "b"),
                               ws - ws % 3600)
    async with TravelTimeWorker(road.client, road.config(worker_id="w1", retention_days=30,
                                                         **FAST)):
        await eventually(lambda: ws in windows(road, "a", "b"),
                         what="the window to be published", in_thread=True)
        lease_id = road.client.get(key)[1].lease_id
        ttl = road.client.get_lease_info(lease_id).TTL
        assert 29 * 86_400 < ttl <= 31 * 86_400  # expires 30 days on (its hour's lease)
        road.client.revoke_lease(lease_id)  # as if etcd had expired it
        assert road.client.get(key)[0] is None
        road.trips("a", "b", ws * S, [1.5, 1.5, 1.5], first_device=100, spacing_s=0.1)
        await eventually(lambda: windows(road, "a", "b").get(ws, (None, 0))[0] is not None
                         and windows(road, "a", "b")[ws][0].count == 8,
                         what="the window written again under a new lease", in_thread=True)
        assert road.client.get(key)[1].lease_id not in (0, lease_id)


async def test_a_link_added_after_its_data_gets_windows_over_all_retained_data(
    road: Road, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data far older than backfill_s: the worker computes those windows in the
    background, a chunk per turn, reporting its progress in etcd until done."""
    monkeypatch.setattr(backfill, "CHUNK_WINDOWS", 10)
    old = past_window(300)  # 300 s ago; the regular schedule reaches back 40 s
    road.trips("a", "b", old * S, [1.0, 1.1, 1.2, 1.3, 1.4], spacing_s=0.1)
    road.link("a", "b", max_seconds=5)  # the link comes after its data
    seen: list[object] = []
    watch = road.client.add_watch_prefix_callback(
        keys.backfill_prefix(road.namespace), lambda resp: seen.extend(resp.events))

    def progress_left() -> bool:
        return bool(list(road.client.get_prefix(keys.backfill_prefix(road.namespace))))

    try:
        async with TravelTimeWorker(road.client, road.config(worker_id="w1", **FAST)):
            await eventually(lambda: old in windows(road, "a", "b"),
                             what="the old window to be backfilled", in_thread=True)
            await eventually(lambda: not progress_left(),
                             what="the backfill to finish", in_thread=True)
            await eventually(lambda: any(isinstance(e, etcd3.events.DeleteEvent)
                                         for e in seen), what="the progress record's removal")
    finally:
        road.client.cancel_watch(watch)
    summary = windows(road, "a", "b")[old][0]
    assert summary.count == 5 and summary.worker == "w1"
    puts = [backfill.Progress.from_json(e.value) for e in seen
            if isinstance(e, etcd3.events.PutEvent)]
    # (late data's windows, computed first, are not in the plan)
    assert puts[0].oldest_window_s <= old and puts[0].worker == "w1"
    lefts = [p.windows_left for p in puts]
    assert lefts == sorted(lefts, reverse=True) and lefts[0] > lefts[-1]
    stored = set(windows(road, "a", "b"))
    first = puts[0].oldest_window_s
    assert set(range(first, past_window(40), W)) <= stored  # back to the oldest pass


async def test_a_link_set_with_other_rules_has_every_retained_window_recomputed(
    road: Road, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`links set` with a shorter limit: the windows published before (an old one and one
    in the regular schedule's reach) are computed again under it, with progress shown."""
    monkeypatch.setattr(backfill, "CHUNK_WINDOWS", 10)
    old, recent = past_window(300), past_window(12)
    for n, ws in enumerate((old, recent)):  # arriving at b within the window
        road.trips("a", "b", ws * S - 3 * S, [3.0, 3.1, 3.2, 3.3, 3.4], first_device=n * 100,
                   spacing_s=0.1)
    road.link("a", "b", max_seconds=5)
    seen: list[object] = []
    watch = road.client.add_watch_prefix_callback(
        keys.backfill_prefix(road.namespace), lambda resp: seen.extend(resp.events))
    try:
        async with TravelTimeWorker(road.client, road.config(worker_id="w1", **FAST)):
            await eventually(lambda: {old, recent} <= set(windows(road, "a", "b")),
                             what="both windows under the first rules", in_thread=True)
            assert windows(road, "a", "b")[old][0].count == 5
            digest = road.client.get(keys.rules_key(road.namespace, "link/a/b"))[0]
            seen.clear()
            road.link("a", "b", max_seconds=2)  # every trip is now too slow for the link

            def recomputed() -> bool:
                now = windows(road, "a", "b")
                return now[old][0].count == 0 and now[recent][0].count == 0
            await eventually(recomputed, what="both windows under the new rules", in_thread=True)
            await eventually(lambda: road.client.get(keys.rules_key(
                road.namespace, "link/a/b"))[0] != digest, what="the new rules recorded",
                in_thread=True)
    finally:
        road.client.cancel_watch(watch)
    assert any(isinstance(e, etcd3.events.PutEvent) for e in seen)  # progress was shown


async def test_a_live_figure_over_the_last_minutes_is_recomputed_and_marked_provisional(
    road: Road,
) -> None:
    """Besides the published windows: each link's figure over the last live_window_s,
    recomputed every live_every_s, provisional, on a short lease."""
    road.link("a", "b", max_seconds=60)
    now = int(time.time())
    road.trips("a", "b", (now - 20) * S, [4.0, 4.2, 4.4, 4.6, 4.8], spacing_s=1.0)
    live = {"live_window_s": 60, "live_every_s": 1}

    def figure() -> WindowSummary:
        found = ttstore.read_live(road.client, road.namespace,
                                  Target((LinkRecord("a", "b", 60),)))
        assert found is not None
        return found

    async with TravelTimeWorker(road.client, road.config(worker_id="w1", **FAST, **live)):
        await eventually(lambda: ttstore.read_live(road.client, road.namespace, Target((
            LinkRecord("a", "b", 60),))) is not None, what="a live figure", in_thread=True)
        first = figure()
        assert first.provisional and first.count == 5
        assert first.figures is not None and first.figures.median_s == 4.4
        assert first.window_end_ns - first.window_start_ns == 60 * S
        assert first.window_end_ns >= now * S
        road.trips("a", "b", (now - 10) * S, [9.0] * 5, first_device=100, spacing_s=0.5)
        await eventually(lambda: figure().count == 10, what="the live figure recomputed",
                         in_thread=True)
        key = keys.live_key(road.namespace, "link/a/b")
        assert road.client.get(key)[1].lease_id != 0  # gone soon after the workers are
