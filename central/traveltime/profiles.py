"""Normal profiles: a link's or route's typical travel time per weekday and 15-minute bin.

From the window medians of the last `weeks` weeks (windows with figures only), binned by the
window's start on the clock of `utc_offset_hours` (fixed: daylight saving is not followed):
a bin's normal is the median of its medians, once they come from at least MIN_WEEKS
different weeks (a single day's windows are no normal). The
free-flow travel time is the 15th percentile of all of them (reference.free_flow_s). Workers
compute the profiles of the destinations they hold, at most every `every_s`, and keep them in
etcd (keys.profile_key), where the feeds and the CLI read them.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.traveltime import store
from roadside.central.traveltime.model import Target, WindowSummary
from roadside.central.traveltime.reference import free_flow_s

BIN_S = 900  # 15 minutes
BINS_PER_DAY = 86_400 // BIN_S
BINS = 7 * BINS_PER_DAY  # Monday 00:00 first
MIN_WEEKS = 2  # weeks a bin's window medians must come from for a normal
WEEK_S = 7 * 86_400
EPOCH_MONDAY_S = 4 * 86_400  # 1970-01-05 was a Monday: weekday 0 of bin 0
NS_PER_S = 1_000_000_000


def bin_of(t_s: float, utc_offset_hours: float = 0.0) -> int:
    """The weekday-and-quarter-hour bin (0 = Monday 00:00-00:15) of a unix time."""
    local = t_s + utc_offset_hours * 3600 - EPOCH_MONDAY_S
    return int(local // BIN_S) % BINS


@dataclass(frozen=True, slots=True)
class Profile:
    bins_s: tuple[float | None, ...]  # BINS values: the normal travel time, None = unknown
    free_flow_s: float | None
    weeks: int
    utc_offset_hours: float
    computed_ns: int

    def normal_at(self, t_ns: int) -> float | None:
        return self.bins_s[bin_of(t_ns / NS_PER_S, self.utc_offset_hours)]

    def to_json(self) -> bytes:
        return json.dumps({"bins_s": list(self.bins_s), "free_flow_s": self.free_flow_s,
                           "weeks": self.weeks, "utc_offset_hours": self.utc_offset_hours,
                           "computed_ns": self.computed_ns}).encode()

    @classmethod
    def from_json(cls, value: bytes) -> Profile:
        d = json.loads(value)
        bins = tuple(None if v is None else float(v) for v in d["bins_s"])
        if len(bins) != BINS:
            raise ValueError(f"a profile has {BINS} bins, this one {len(bins)}")
        ff = d.get("free_flow_s")
        return cls(bins, None if ff is None else float(ff), int(d["weeks"]),
                   float(d["utc_offset_hours"]), int(d["computed_ns"]))


def build(windows: list[WindowSummary], weeks: int, utc_offset_hours: float = 0.0,
          now_ns: int | None = None) -> Profile:
    """The profile of these windows (any number of weeks' worth)."""
    per_bin: list[list[float]] = [[] for _ in range(BINS)]
    weeks_of: list[set[int]] = [set() for _ in range(BINS)]
    for w in windows:
        if w.figures is not None and not w.suppressed:
            start_s = w.window_start_ns / NS_PER_S
            b = bin_of(start_s, utc_offset_hours)
            per_bin[b].append(w.figures.median_s)
            weeks_of[b].add(int((start_s - EPOCH_MONDAY_S) // WEEK_S))
    bins = tuple(statistics.median(v) if len(weeks_of[b]) >= MIN_WEEKS else None
                 for b, v in enumerate(per_bin))
    return Profile(bins, free_flow_s(windows), weeks, utc_offset_hours,
                   now_ns or time.time_ns())


def compute(client: store.EtcdClient, ns: str, target: Target, weeks: int,
            utc_offset_hours: float, now_ns: int) -> Profile:
    since_s = now_ns // NS_PER_S - weeks * 7 * 86_400
    found = [w for w, _rev in store.read_windows(client, ns, target, since_s)]
    return build(found, weeks, utc_offset_hours, now_ns)


def write(client: store.EtcdClient, ns: str, target: Target, profile: Profile) -> None:
    try:
        client.put(keys.profile_key(ns, target.path), profile.to_json())
    except store.ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd write failed: {exc}") from exc


def read_all(client: store.EtcdClient, ns: str) -> dict[str, Profile]:
    """Every stored profile, by target path (one range read)."""
    prefix = keys.profile_key(ns, "")
    out = {}
    for key, value, _rev in store.range_pages(client, prefix, keys.prefix_end(prefix)):
        try:
            out[key.decode()[len(prefix):]] = Profile.from_json(value)
        except (ValueError, KeyError, TypeError):
            continue
    return out


def read(client: store.EtcdClient, ns: str, target_path: str) -> Profile | None:
    try:
        value, _meta = client.get(keys.profile_key(ns, target_path))
    except store.ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd read failed: {exc}") from exc
    if not value:
        return None
    try:
        return Profile.from_json(value)
    except (ValueError, KeyError, TypeError):
        return None
