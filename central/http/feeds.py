"""What the HTTP feeds say, from the stored windows, the registry and the agents' status.

One entry per link and route: its current (newest) window and the recent ones (`quality`:
the share of the window's matched samples that were kept, 1.0 when none was rejected), each
with an explicit state ("ok", "suppressed": fewer than k devices, so no figure at all; "no_data":
nobody), the free-flow travel time (the 15th percentile of the last week's window medians),
the normal travel time for the current window's weekday and quarter hour (profiles.py, kept by
the workers), the delay against the normal (or, without one, against free flow) and the
trend against the window before. Suppressed windows carry no
count: the same privacy rule as the gRPC API. `live`: the workers' current estimate over the
last live_window_s (recomputed every live_every_s), the same fields as a window and
`"provisional": true`; null when no worker has made one.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadside.central.http.feed_cache import FeedCache
from roadside.central.store.clocks import CLOCK_OFFSET_MAX_S, read_estimates
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.traveltime import alerts, profiles
from roadside.central.traveltime import store as windows_store
from roadside.central.traveltime.config import ROUTE_MAX_SECONDS
from roadside.central.traveltime.model import Target, WindowSummary
from roadside.central.traveltime.query import to_proto
from roadside.central.traveltime.reference import FreeFlowCache
from roadside.common.timeparse import format_utc

NS_PER_S = 1_000_000_000
RECENT_S = 3600  # the windows a feed shows besides the current one (by default)
MAX_RECENT_S = 48 * 3600  # the most a caller may ask for (?hours=)
TREND_FRACTION = 0.10  # a median this much above (below) the previous: increasing (decreasing)
READERS = 8  # targets read from etcd at once for one feed
QUALITY_WINDOW_S = 300  # the window width data quality assumes when no window is stored


def window_state(w: WindowSummary) -> str:
    """"ok", "suppressed" (under k devices) or "no_data" (nobody): the API's own rule."""
    msg = to_proto(w, include_samples=False)
    return "no_data" if msg.no_data else "suppressed" if msg.suppressed else "ok"


def target_name(target: Target) -> str:
    return target.route or f"{target.src} -> {target.dest}"


def window_entry(w: WindowSummary, length_m: float) -> dict[str, Any]:
    """One window as the feeds carry it (machine values: seconds, ns and RFC 3339)."""
    state = window_state(w)
    entry: dict[str, Any] = {
        "window_start": format_utc(w.window_start_ns), "window_end": format_utc(w.window_end_ns),
        "window_start_ns": w.window_start_ns, "window_end_ns": w.window_end_ns,
        "state": state, "travel_time_s": None, "speed_kmh": None, "p10_s": None,
        "median_s": None, "p90_s": None, "stddev_s": None, "samples": None, "devices": None,
        "quality": None, "rejected": None,
        "computed": format_utc(w.computed_ns) if w.computed_ns else None,
    }
    if state == "ok" and w.figures is not None:
        f = w.figures
        rejected = sum(w.rejections.values())
        entry.update(travel_time_s=f.median_s, p10_s=f.p10_s, median_s=f.median_s,
                     p90_s=f.p90_s, samples=w.count, rejected=dict(w.rejections),
                     devices=w.devices or None, quality=w.count / (w.count + rejected),
                     stddev_s=_stddev(w.samples_s),
                     speed_kmh=length_m / f.median_s * 3.6 if length_m and f.median_s else None)
    elif state == "no_data":
        entry["samples"] = 0
    return entry


def _stddev(samples: tuple[float, ...]) -> float | None:
    if len(samples) < 2:
        return None
    mean = sum(samples) / len(samples)
    return math.sqrt(sum((s - mean) ** 2 for s in samples) / (len(samples) - 1))


def trend(current: dict[str, Any] | None, previous: dict[str, Any] | None) -> str | None:
    if not current or not previous or current["median_s"] is None or not previous["median_s"]:
        return None
    ratio = current["median_s"] / previous["median_s"]
    if ratio > 1 + TREND_FRACTION:
        return "increasing"
    if ratio < 1 - TREND_FRACTION:
        return "decreasing"
    return "stable"


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    name: str
    latitude: float
    longitude: float


def road(target: Target, places: dict[str, Place]) -> list[list[float]]:
    """A link's or route's line: each hop along its road where one is set, else straight
    between its detectors (those placed)."""
    line: list[list[float]] = []
    for hop in target.hops:
        drawn = hop.line() or [[places[d].longitude, places[d].latitude]
                               for d in (hop.src, hop.dest) if d in places]
        line += drawn[1:] if line and drawn and drawn[0] == line[-1] else drawn
    return line


class Feeds:
    """Reads the store for the feeds; free-flow references are cached per target."""

    def __init__(self, store: EtcdStore, allowed_silence_s: float = 900.0,
                 clock_offset_max_s: float = CLOCK_OFFSET_MAX_S,
                 archive_dir: Path | None = None) -> None:
        self.clock_offset_max_s = clock_offset_max_s
        self.store = store
        self.archive_dir = archive_dir  # the passes' archive (the OD report reads it)
        self.allowed_silence_s = allowed_silence_s
        self.free_flow = FreeFlowCache(store.client, store.namespace)
        self.cache = FeedCache(store.client, store.namespace, self._entries)

    def targets(self) -> list[Target]:
        return windows_store.all_targets(self.store.client, self.store.namespace,
                                         ROUTE_MAX_SECONDS)

    def roads(self, places: dict[str, Place]) -> dict[str, list[list[float]]]:
        """Each link's and route's line along its road ([longitude, latitude] points)."""
        return {t.path: road(t, places) for t in self.targets()}

    def places(self) -> dict[str, Place]:
        return {d.id: Place(d.id, d.name, d.latitude, d.longitude)
                for d in self.store.list_detectors()}

    def travel_times(self, now_ns: int | None = None, only: str | None = None,
                     recent_s: int = RECENT_S) -> list[dict[str, Any]]:
        """Every target's entry (or the one with id `only`), with the windows of the last
        `recent_s`; the reads of many targets run READERS at a time."""
        now = now_ns or time.time_ns()
        targets = [t for t in self.targets() if only is None or t.path == only]
        return self.cache.entries(targets, now, recent_s)

    def _entries(self, targets: list[Target], now: int, recent_s: int) -> list[dict[str, Any]]:
        """The targets' entries read afresh (FeedCache calls it for those that changed)."""
        if not targets:
            return []
        profiles_now = profiles.read_all(self.store.client, self.store.namespace)
        with ThreadPoolExecutor(min(READERS, len(targets)),
                                thread_name_prefix="feed-read") as pool:
            return list(pool.map(
                lambda t: self._target_entry(t, now, profiles_now, recent_s), targets))

    def span(self, target_id: str, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
        """The entry of one target with its windows that start in [since, until) (a day of
        the past: the chart's date), as of until (no live figure)."""
        targets = [t for t in self.targets() if t.path == target_id]
        known = profiles.read_all(self.store.client, self.store.namespace)
        return [self._target_entry(t, until_ns, known, (until_ns - since_ns) // NS_PER_S,
                                   until_s=until_ns // NS_PER_S) for t in targets]

    def _target_entry(self, target: Target, now_ns: int, known: dict[str, profiles.Profile],
                      recent_s: int, until_s: int = 0) -> dict[str, Any]:
        """A target's entry with its windows of the last `recent_s` before now_ns (or only
        those starting before `until_s`: a past day, which has no live figure)."""
        client, ns = self.store.client, self.store.namespace
        since_s = now_ns // NS_PER_S - recent_s
        found = [w for w, _rev in windows_store.read_windows(client, ns, target, since_s,
                                                               until_s)]
        length = target.length_m
        recent = [window_entry(w, length) for w in found]
        profile = known.get(target.path)
        for entry in recent:  # each window's normal, for charts
            entry["normal_s"] = profile.normal_at(entry["window_start_ns"]) if profile else None
        current = recent[-1] if recent else None
        previous = recent[-2] if len(recent) > 1 else None
        free = (profile.free_flow_s if profile is not None
                else self.free_flow.get(target, now_ns))
        normal = profile.normal_at(current["window_start_ns"]) if profile and current else None
        against = normal or free
        delay = (current["median_s"] - against
                 if current and current["median_s"] is not None and against else None)
        live = None if until_s else windows_store.read_live(client, ns, target)
        return {
            "id": target.path, "kind": "route" if target.route else "link",
            "name": target_name(target),
            "src": target.src, "dest": target.dest, "detectors": list(target.detectors),
            "length_m": length or None, "free_flow_s": free, "normal_s": normal,
            "delay_s": delay, "delay_against": ("normal" if normal else "free_flow")
            if delay is not None else None,
            "trend": trend(current, previous), "current": current,
            "live": None if live is None else {**window_entry(live, length), "provisional": True},
            "recent": recent, "updated": format_utc(now_ns),
        }

    def quality(self, hours: float, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Each link's and route's data quality over the last `hours`: of the windows that
        period holds, the share published with figures, suppressed (under k devices) and
        without data (nobody, or none stored); kept samples per hour."""
        now = now_ns or time.time_ns()
        since_s = now // NS_PER_S - int(hours * 3600)
        client, ns = self.store.client, self.store.namespace

        def one(target: Target) -> dict[str, Any]:
            found = [w for w, _rev in windows_store.read_windows(client, ns, target, since_s)
                     if w.window_end_ns <= now]
            width = ((found[0].window_end_ns - found[0].window_start_ns) // NS_PER_S
                     if found else QUALITY_WINDOW_S)
            expected = max(1, int(hours * 3600) // width)
            states = [window_state(w) for w in found]
            published, suppressed = states.count("ok"), states.count("suppressed")
            return {"id": target.path, "name": target_name(target),
                    "hours": hours, "window_s": width, "windows": expected,
                    "published_share": published / expected,
                    "suppressed_share": suppressed / expected,
                    "no_data_share": max(0, expected - published - suppressed) / expected,
                    "samples_per_hour": sum(w.count for w, state in zip(found, states, strict=True)
                                            if state == "ok") / hours}

        targets = self.targets()
        with ThreadPoolExecutor(min(READERS, max(1, len(targets))),
                                thread_name_prefix="feed-quality") as pool:
            return list(pool.map(one, targets))

    def alert_history(self, hours: float) -> list[dict[str, Any]]:
        """The alert changes of the last `hours`, the newest first."""
        since = time.time_ns() - int(hours * 3600 * NS_PER_S)
        return alerts.history(self.store.client, self.store.namespace, since)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert state, the worst first."""
        return alerts.states(self.store.client, self.store.namespace)

    def health(self, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Every registered detector: last upload and status, silent, backlog, clock, battery."""
        now_ns = now_ns or time.time_ns()
        statuses = {s.get("detector_id"): s for s in self.store.statuses()}
        clocks = read_estimates(self.store.client, self.store.namespace)
        out = []
        for d in self.store.list_detectors():
            s = statuses.get(d.id)
            reported = int(s.get("reported_ns", 0)) if s else 0
            silent_s = (now_ns - reported) / NS_PER_S if reported else None
            clock = str(s.get("clock_sync", "CLOCK_SYNC_UNKNOWN")) if s else None
            state = "never_reported"
            if reported:
                state = "silent" if silent_s and silent_s > self.allowed_silence_s else "ok"
            estimate = clocks.get(d.id)
            offset = estimate.offset_s if estimate is not None and estimate.usable else None
            if state == "ok" and offset is not None and abs(offset) > self.clock_offset_max_s:
                state = "clock_off"
            out.append({
                "id": d.id, "name": d.name, "latitude": d.latitude, "longitude": d.longitude,
                "radios": list(d.radios), "state": state,
                "last_status": format_utc(reported) if reported else None,
                "last_status_ns": reported or None,
                "last_upload": format_utc(int(s["last_upload_ns"]))
                if s and int(s.get("last_upload_ns", 0)) else None,
                "silent_s": silent_s,
                "buffer_depth": int(s.get("buffer_depth", 0)) if s else None,
                "oldest_unsent_age_s": float(s.get("oldest_unsent_age_s", 0)) if s else None,
                "clock_unsynchronised": clock == "CLOCK_SYNC_UNSYNCED" if s else None,
                "clock_offset_s": offset,  # central's estimate from its uploads (README: Clocks)
                "battery_voltage": float(s.get("battery_voltage", 0)) or None if s else None,
            })
        return out

    def network(self, with_health: bool) -> dict[str, Any]:
        """GeoJSON: detectors as points, links and routes as lines with their current state."""
        places = self.places()
        health = {h["id"]: h["state"] for h in self.health()} if with_health else {}
        levels = {a["subject"]: a.get("level") for a in self.alerts()} if with_health else {}
        features: list[dict[str, Any]] = [
            {"type": "Feature", "id": f"detector/{p.id}",
             "geometry": {"type": "Point", "coordinates": [p.longitude, p.latitude]},
             "properties": {"kind": "detector", "id": p.id, "name": p.name,
                            **({"health": health.get(p.id)} if with_health else {})}}
            for p in places.values()]
        lines = self.roads(places)
        for entry in self.travel_times():
            line = lines.get(entry["id"], [])  # (straight between placed detectors: road())
            current = entry["current"] or {}
            live = entry["live"] or {}
            features.append({
                "type": "Feature", "id": entry["id"],
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"kind": entry["kind"], "id": entry["id"], "name": entry["name"],
                               "state": current.get("state", "no_data"),
                               "travel_time_s": current.get("travel_time_s"),
                               "speed_kmh": current.get("speed_kmh"),
                               "live_travel_time_s": live.get("travel_time_s"),
                               "free_flow_s": entry["free_flow_s"],
                               "delay_s": entry["delay_s"],
                               **({"alert": levels.get(entry["id"])} if with_health else {})}})
        return {"type": "FeatureCollection", "features": features}
