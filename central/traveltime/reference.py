"""Reference travel times from stored windows: the free-flow travel time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from roadside.central.traveltime import store
from roadside.central.traveltime.model import Target, WindowSummary

WEEK_S = 7 * 86_400  # free flow from the last week's windows
CACHE_S = 600.0  # a target's free flow is computed again after this
NS_PER_S = 1_000_000_000

FREE_FLOW_PERCENTILE = 15  # of the window medians: the usual free-flow estimate
FREE_FLOW_MIN_WINDOWS = 12  # fewer windows with figures: no reference


def free_flow_s(windows: Sequence[WindowSummary]) -> float | None:
    """The free-flow travel time: the 15th percentile of the window medians (None when
    fewer than FREE_FLOW_MIN_WINDOWS windows have figures)."""
    medians = sorted(w.figures.median_s for w in windows if w.figures and not w.suppressed)
    if len(medians) < FREE_FLOW_MIN_WINDOWS:
        return None
    rank = (len(medians) - 1) * FREE_FLOW_PERCENTILE / 100
    low = math.floor(rank)
    high = min(low + 1, len(medians) - 1)
    return medians[low] + (medians[high] - medians[low]) * (rank - low)


class FreeFlowCache:
    """Each target's free flow from its last week of windows, read again after CACHE_S
    (where no profile holds it yet: the feeds and the alerts ask here)."""

    def __init__(self, client: store.EtcdClient, ns: str) -> None:
        self.client = client
        self.ns = ns
        self._known: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, target: Target, now_ns: int) -> float | None:
        mono = time.monotonic()
        with self._lock:
            cached = self._known.get(target.path)
        if cached is not None and mono - cached[0] < CACHE_S:
            return cached[1]
        since_s = now_ns // NS_PER_S - WEEK_S
        week = [w for w, _rev in store.read_windows(self.client, self.ns, target, since_s)]
        value = free_flow_s(week)
        with self._lock:
            self._known[target.path] = (mono, value)
        return value
