"""Reference travel times from stored windows: the free-flow travel time."""

from __future__ import annotations

import math
from collections.abc import Sequence

from roadside.central.traveltime.model import WindowSummary

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
