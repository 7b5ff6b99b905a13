"""Pair each pass at a destination with the latest earlier pass of the same device upstream.

A pass here is a (device_id, t_ns) tuple: the detector is implied by the list it is in,
and t_ns is the stored timestamp the agent chose (first, peak or last).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from roadside.central.store.records import LinkRecord

PassTuple = tuple[str, int]

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Index:
    """The passes at one detector by device: most devices pass once, so `last` answers
    almost every lookup; `multi` holds the sorted times of devices seen more than once."""

    last: dict[str, int]
    multi: dict[str, list[int]]

    def latest_before(self, device_id: str, t_ns: int) -> int | None:
        """The device's latest pass strictly before t_ns, if any."""
        t0 = self.last.get(device_id)
        if t0 is None or t0 < t_ns:
            return t0
        times = self.multi.get(device_id)
        if times is None:
            return None
        i = bisect_left(times, t_ns)
        return times[i - 1] if i else None


def index_passes(passes: Iterable[PassTuple]) -> Index:
    ordered = sorted(passes, key=itemgetter(1))
    last = dict(ordered)  # the latest time of each device wins
    multi: dict[str, list[int]] = {}
    if len(last) < len(ordered):
        counts = Counter(map(itemgetter(0), ordered))
        repeated = {d for d, n in counts.items() if n > 1}
        for device_id, t_ns in ordered:
            if device_id in repeated:
                multi.setdefault(device_id, []).append(t_ns)
    return Index(last, multi)


@dataclass(slots=True)
class MatchResult:
    """Samples in dest-pass order, with the dest times they belong to."""

    dest_ns: list[int] = field(default_factory=list)
    travel_s: list[float] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)  # the device of each sample
    unmatched_ns: list[int] = field(default_factory=list)  # no earlier pass upstream
    too_old_ns: list[int] = field(default_factory=list)  # earlier pass beyond max_seconds

    @property
    def unmatched(self) -> int:
        return len(self.unmatched_ns)

    @property
    def too_old(self) -> int:
        return len(self.too_old_ns)


def match(
    hops: Sequence[LinkRecord], upstream: Sequence[Index], dest_passes: Iterable[PassTuple]
) -> MatchResult:
    """Match dest passes along `hops` (driving order); upstream[i] indexes hops[i].src.

    For a link (one hop) each dest pass takes the latest pass of its device at src before
    it. For a route every hop must match, walking back from the destination, so a sample
    is the time of one device over the whole route.
    """
    result = MatchResult()
    if len(hops) == 1:
        _match_link(hops[0].max_seconds * NS_PER_S, upstream[0], dest_passes, result)
        return result
    limits = [h.max_seconds * NS_PER_S for h in hops]
    for device_id, t_ns in dest_passes:
        t = t_ns
        outcome = "ok"
        for i in range(len(hops) - 1, -1, -1):
            earlier = upstream[i].latest_before(device_id, t)
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
            result.devices.append(device_id)
    return result


def _match_link(
    limit_ns: int, index: Index, dest_passes: Iterable[PassTuple], result: MatchResult
) -> None:
    """The hot path, a plain link: one dict lookup per dest pass in the common case."""
    last_get = index.last.get
    latest_before = index.latest_before
    dest_append = result.dest_ns.append
    travel_append = result.travel_s.append
    device_append = result.devices.append
    unmatched_append = result.unmatched_ns.append
    too_old_append = result.too_old_ns.append
    for device_id, t_ns in dest_passes:
        t0 = last_get(device_id)
        if t0 is None:
            unmatched_append(t_ns)
            continue
        if t0 >= t_ns:
            t0 = latest_before(device_id, t_ns)
            if t0 is None:
                unmatched_append(t_ns)
                continue
        if t_ns - t0 > limit_ns:
            too_old_append(t_ns)
        else:
            dest_append(t_ns)
            travel_append((t_ns - t0) / NS_PER_S)
            device_append(device_id)
