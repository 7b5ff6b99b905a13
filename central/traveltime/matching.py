"""Pair each pass at a destination with the latest earlier pass of the same device upstream.

A pass here is a (device_id, t_ns) tuple: the detector is implied by the list it is in,
and t_ns is the stored timestamp the agent chose (first, peak or last).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from central.traveltime.model import Hop

PassTuple = tuple[str, int]
Index = dict[str, list[int]]

NS_PER_S = 1_000_000_000


def index_passes(passes: Iterable[PassTuple]) -> Index:
    """device_id -> its pass times, sorted."""
    index: Index = {}
    for device_id, t_ns in passes:
        times = index.get(device_id)
        if times is None:
            index[device_id] = [t_ns]
        else:
            times.append(t_ns)
    for times in index.values():
        if len(times) > 1:
            times.sort()
    return index


@dataclass(slots=True)
class MatchResult:
    """Samples in dest-pass order, with the dest times they belong to."""

    dest_ns: list[int] = field(default_factory=list)
    travel_s: list[float] = field(default_factory=list)
    unmatched_ns: list[int] = field(default_factory=list)  # no earlier pass upstream
    too_old_ns: list[int] = field(default_factory=list)  # earlier pass beyond max_seconds

    @property
    def unmatched(self) -> int:
        return len(self.unmatched_ns)

    @property
    def too_old(self) -> int:
        return len(self.too_old_ns)


def _latest_before(times: list[int], t_ns: int) -> int | None:
    """The latest time in sorted `times` strictly before t_ns."""
    if len(times) == 1:
        return times[0] if times[0] < t_ns else None
    i = bisect_left(times, t_ns)
    return times[i - 1] if i else None


def match(
    hops: Sequence[Hop], upstream: Sequence[Index], dest_passes: Iterable[PassTuple]
) -> MatchResult:
    """Match dest passes along `hops` (driving order); upstream[i] indexes hops[i].src.

    For a link (one hop) each dest pass takes the latest pass of its device at src before
    it. For a route every hop must match, walking back from the destination, so a sample
    is the time of one device over the whole route.
    """
    result = MatchResult()
    if len(hops) == 1:  # the hot path: a plain link
        limit = hops[0].max_seconds * NS_PER_S
        index = upstream[0]
        dest_append = result.dest_ns.append
        travel_append = result.travel_s.append
        unmatched_append = result.unmatched_ns.append
        for device_id, t_ns in dest_passes:
            times = index.get(device_id)
            if times is None:
                unmatched_append(t_ns)
                continue
            t0 = _latest_before(times, t_ns)
            if t0 is None:
                unmatched_append(t_ns)
            elif t_ns - t0 > limit:
                result.too_old_ns.append(t_ns)
            else:
                dest_append(t_ns)
                travel_append((t_ns - t0) / NS_PER_S)
        return result
    limits = [h.max_seconds * NS_PER_S for h in hops]
    for device_id, t_ns in dest_passes:
        t = t_ns
        outcome = "ok"
        for i in range(len(hops) - 1, -1, -1):
            times = upstream[i].get(device_id)
            earlier = _latest_before(times, t) if times else None
            if earlier is None:
                outcome = "unmatched"
                break
            if t - earlier > limits[i]:
                outcome = "too_old"
                break
            t = earlier
        if outcome == "unmatched":
            result.unmatched_ns.append(t_ns)
        elif outcome == "too_old":
            result.too_old_ns.append(t_ns)
        else:
            result.dest_ns.append(t_ns)
            result.travel_s.append((t_ns - t) / NS_PER_S)
    return result
