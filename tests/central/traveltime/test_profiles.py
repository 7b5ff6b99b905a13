"""Normal profiles: kept by the workers from the last weeks' windows, per weekday and quarter
hour; the feeds, DATEX II and `roadside query travel-times` show normal and delay."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.http.feeds import Feeds
from roadside.central.store.records import DetectorRecord
from roadside.central.traveltime import engine, profiles, stats, store
from roadside.central.traveltime.model import Figures, WindowSummary
from roadside.central.traveltime.worker import TravelTimeWorker
from roadside.common.main import main
from tests.fixtures.polling import eventually
from tests.fixtures.traveltime import Road, S
from tests.fixtures.trust import ANALYST, AsOperator

W = 300
WEEK_S = 7 * 86_400


def test_bins_are_weekday_and_quarter_hour_on_the_profile_clock() -> None:
    monday = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    assert profiles.bin_of(monday) == 0
    assert profiles.bin_of(monday + 86_400 + 8 * 3600 + 20 * 60) == 96 + 33  # Tue 08:20
    assert profiles.bin_of(monday - 1) == profiles.BINS - 1  # Sunday 23:59:59
    assert profiles.bin_of(monday, utc_offset_hours=1.0) == 4  # 01:00 on that clock


def test_one_day_of_windows_is_no_normal() -> None:
    """Three windows of one quarter hour on one day: values enough, but one week only."""
    t = int(datetime(2026, 11, 30, 8, tzinfo=UTC).timestamp())
    days = [WindowSummary("a", "b", "", (t + n * W) * S, (t + (n + 1) * W) * S, 9, False,
                          Figures(100.0 + n, 90, 95, 105, 110, 3)) for n in range(3)]
    assert profiles.build(days, 4).normal_at(t * S) is None
    later = WindowSummary("a", "b", "", (t + WEEK_S) * S, (t + WEEK_S + W) * S, 9, False,
                          Figures(120.0, 90, 95, 105, 110, 3))
    weeks = [days[0], later]
    assert profiles.build(weeks, 4).normal_at(t * S) == 110.0  # two weeks: their median


def publish(road: Road, starts: list[int], travel: dict[int, float]) -> None:
    """Windows of a -> b at these starts, 8 devices each taking travel[start] seconds."""
    for n, ws in enumerate(starts):
        road.trips("a", "b", int((ws + 250 - travel[ws]) * S),
                   [travel[ws]] * 8, first_device=n * 100, spacing_s=2)
    [link] = store.all_targets(road.client, road.namespace, 1800)
    done = engine.compute_windows(road.client, road.namespace, link, starts, W, stats.Rules())
    store.write_windows(road.client, road.namespace, [(link, w) for w in done])


@pytest.fixture
def weeks(road: Road) -> int:
    """a -> b: this quarter hour two weeks and one week ago took 120 and 100 s; now 200 s."""
    for det in "ab":
        road.store.register_detector(DetectorRecord(det, det.upper(), 52.0, 5.0))
    road.link("a", "b", max_seconds=900)
    now_w = (int(time.time()) - W) // W * W
    travel = {now_w - WEEK_S: 100.0, now_w - 2 * WEEK_S: 120.0, now_w: 200.0}
    publish(road, sorted(travel), travel)
    return now_w


async def test_a_worker_keeps_the_profile_and_the_feeds_show_normal_and_delay(
    as_operator: AsOperator,
    road: Road, weeks: int, start_test_central: Callable[..., RunningCentral],
    capsys: pytest.CaptureFixture[str],
) -> None:
    as_operator(ANALYST)
    config = road.config(worker_id="w1", window_s=W, grace_s=0.3, backfill_s=600,
                         lock_ttl_s=2, profile_weeks=3)
    async with TravelTimeWorker(road.client, config):
        await eventually(lambda: profiles.read(road.client, road.namespace, "link/a/b")
                         is not None, what="the profile", in_thread=True)
    profile = profiles.read(road.client, road.namespace, "link/a/b")
    assert profile is not None and profile.weeks == 3
    assert profile.normal_at(weeks * S) == 120.0  # the median of 100, 120 and now's 200
    assert sum(v is not None for v in profile.bins_s) == 1  # one bin with enough values
    [entry] = Feeds(road.store).travel_times()
    assert (entry["normal_s"], entry["delay_s"], entry["delay_against"]) == (120.0, 80.0,
                                                                             "normal")
    central = start_test_central()
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", "2h",
                 "--format", "json", "--query-host", central.query_addr]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (rows[-1]["normal_s"], rows[-1]["delay_s"]) == (120.0, 80.0)
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", "2h",
                 "--query-host", central.query_addr]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "NORMAL min" in table[0] and "2.00" in table[-1] and "1.33" in table[-1]
