"""Compute a target's windows: read passes from etcd, match them, summarise per window."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from roadside.central.store import keys
from roadside.central.store.clocks import CLOCK_OFFSET_MAX_S, read_estimates
from roadside.central.store.shards import Shards
from roadside.central.traveltime import matching, stats, store
from roadside.central.traveltime.matching import PassTuple
from roadside.central.traveltime.model import REJECT_MAX_SECONDS, Target, WindowSummary

NS_PER_S = keys.NS_PER_S
RUN_GAP_WINDOWS = 3  # windows further apart than this are read separately
NONE: stats.Samples = np.empty(0)


def compute_from_passes(
    target: Target,
    upstream: Sequence[Sequence[PassTuple]],
    dest_passes: Sequence[PassTuple],
    window_starts_s: Sequence[int],
    window_s: int,
    rules: stats.Rules,
    computed_ns: int = 0,
    source_revision: int = 0,
    worker: str = "",
    kinds: Mapping[str, tuple[str, str]] | None = None,
    clock_corrected: Mapping[str, float] | None = None,
    clock_excluded: tuple[str, ...] = (),
) -> list[WindowSummary]:
    """Summaries of the given windows from passes already read. The windows need not
    start at multiples of window_s (a live window ends now): they are laid out from the
    first one's start.

    upstream[i] holds the passes at target.detectors[i]; dest_passes those at the
    destination, covering the windows and one window either side (the neighbours of
    the outlier rule). `kinds` gives each device's (device class, address kind): the
    kept samples are counted by both.
    """
    if not target.route:  # a link's own speed bounds and outlier filter
        hop = target.hops[0]
        rules = rules.for_link(hop.min_speed_kmh, hop.max_speed_kmh, hop.outlier)
    indexes = [matching.index_passes(p) for p in upstream]
    result = matching.match(target.hops, indexes, dest_passes)
    w_ns = window_s * NS_PER_S
    phase = window_starts_s[0] * NS_PER_S % w_ns if window_starts_s else 0
    per_window, devices = _by_window(result, w_ns, phase)
    misses = _misses_per_window(result, w_ns, phase)
    length_m = target.length_m
    out = []
    for ws in window_starts_s:
        start = ws * NS_PER_S
        samples = per_window.get(start, NONE)
        neighbours = np.concatenate([
            stats.plausible(per_window.get(start - w_ns, NONE), length_m, rules),
            stats.plausible(per_window.get(start + w_ns, NONE), length_m, rules),
        ])
        summary = stats.summarise(samples, neighbours, length_m, rules,
                                  devices.get(start, ()))
        by_class, by_kind = _breakdown(summary, kinds or {})
        unmatched, too_old = misses.get(start, (0, 0))
        rejections = dict(summary.rejections)
        if too_old:
            rejections[REJECT_MAX_SECONDS] = too_old
        out.append(
            WindowSummary(
                src=target.src,
                dest=target.dest,
                route=target.route,
                window_start_ns=start,
                window_end_ns=start + w_ns,
                count=summary.count,
                devices=summary.devices,
                suppressed=summary.suppressed,
                figures=summary.figures,
                rejections=rejections,
                unmatched=unmatched,
                samples_s=summary.kept,
                computed_ns=computed_ns,
                source_revision=source_revision,
                worker=worker,
                by_class=by_class,
                by_address_kind=by_kind,
                vehicle_only=vehicle_only(target),
                clock_corrected=dict(clock_corrected or {}),
                clock_excluded=clock_excluded,
            )
        )
    return out


CLOCK_POLICIES = ("correct", "exclude", "ignore")


@dataclass(frozen=True, slots=True)
class ClockPolicy:
    """What to do with a detector whose clock is off by more than `max_s` (the estimates of
    central/store/clocks.py): correct its times, exclude it, or ignore the offset."""

    mode: str = "correct"
    max_s: float = CLOCK_OFFSET_MAX_S

    def decide(self, client: store.EtcdClient, ns: str, detectors: Sequence[str],
               ) -> tuple[dict[str, float], set[str]]:
        """(offset to take off, by detector; detectors to leave out)."""
        if self.mode == "ignore":
            return {}, set()
        off = {d: e.offset_s for d, e in read_estimates(client, ns, detectors).items()
               if e.usable and abs(e.offset_s) > self.max_s}
        if self.mode == "exclude":
            return {}, set(off)
        return off, set()


def vehicle_only(target: Target) -> bool:
    """A target of vehicle-only links matches only vehicle-class devices."""
    return all(h.vehicle_only for h in target.hops)


def _breakdown(summary: stats.Summary, kinds: Mapping[str, tuple[str, str]],
               ) -> tuple[dict[str, int], dict[str, int]]:
    """The kept samples by device class and by address kind (nothing when suppressed)."""
    if summary.suppressed:
        return {}, {}
    by_class: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for device in summary.kept_devices:
        device_class, kind = kinds.get(device, ("", "unknown"))
        by_class[device_class or "unknown"] += 1
        by_kind[kind] += 1
    return dict(sorted(by_class.items())), dict(sorted(by_kind.items()))


def _by_window(
    result: matching.MatchResult, w_ns: int, phase: int = 0,
) -> tuple[dict[int, stats.Samples], dict[int, list[str]]]:
    """The samples, and the devices that made them, grouped by the window their dest pass
    falls in (window start, ns; windows start at `phase` modulo w_ns)."""
    if not result.dest_ns:
        return {}, {}
    dest = np.asarray(result.dest_ns, dtype=np.int64)
    travel = np.asarray(result.travel_s, dtype=np.float64)
    starts = dest - (dest - phase) % w_ns
    order = np.argsort(starts, kind="stable")
    keys_, first = np.unique(starts[order], return_index=True)
    groups = np.split(travel[order], first[1:])
    ends = [*first[1:].tolist(), len(order)]
    devices = [result.devices[i] for i in order.tolist()]
    by_device = {k: devices[a:b] for k, a, b in zip(keys_.tolist(), first.tolist(), ends,
                                                    strict=True)}
    return dict(zip(keys_.tolist(), groups, strict=True)), by_device


def _misses_per_window(result: matching.MatchResult, w_ns: int,
                       phase: int = 0) -> dict[int, tuple[int, int]]:
    """(unmatched, too_old) per window start, counted on the dest pass's window."""
    out: dict[int, tuple[int, int]] = {}
    for t_ns in result.unmatched_ns:
        start = t_ns - (t_ns - phase) % w_ns
        um, old = out.get(start, (0, 0))
        out[start] = (um + 1, old)
    for t_ns in result.too_old_ns:
        start = t_ns - (t_ns - phase) % w_ns
        um, old = out.get(start, (0, 0))
        out[start] = (um, old + 1)
    return out


def runs(window_starts_s: Sequence[int], window_s: int) -> list[list[int]]:
    """Sorted window starts split where they are more than RUN_GAP_WINDOWS apart."""
    out: list[list[int]] = []
    for ws in sorted(set(window_starts_s)):
        if out and ws - out[-1][-1] <= RUN_GAP_WINDOWS * window_s:
            out[-1].append(ws)
        else:
            out.append([ws])
    return out


def compute_windows(
    client: store.EtcdClient,
    ns: str,
    target: Target,
    window_starts_s: Sequence[int],
    window_s: int,
    rules: stats.Rules,
    worker: str = "",
    shards: Shards | None = None,
    clocks: ClockPolicy | None = None,
) -> list[WindowSummary]:
    """Read what the windows need from etcd, at one revision of each etcd (the control
    one's first: its dirty markers follow the passes), and summarise them. A detector
    whose clock is off by more than `clocks.max_s` has the offset taken off its passes
    (policy correct) or is left out (exclude); the summaries say which."""
    revision = store.current_revision(client, ns)
    snapshot = (shards or Shards(client, ns)).snapshot(revision)
    corrected, excluded = (clocks or ClockPolicy()).decide(client, ns, target.detectors)

    classes = ("vehicle",) if vehicle_only(target) else None
    kinds: dict[str, tuple[str, str]] = {}

    def passes(det: str, since_ns: int, until_ns: int, aliases: bool) -> list[PassTuple]:
        if det in excluded:
            return []
        on, at = snapshot.read_at(det)
        shift = int(corrected.get(det, 0.0) * NS_PER_S)  # box time = true time + offset
        found = store.read_passes(on, ns, det, since_ns + shift, until_ns + shift, at,
                                  aliases=aliases, classes=classes,
                                  kinds=kinds if det == target.dest else None)
        return [(d, t - shift) for d, t in found] if shift else found

    out: list[WindowSummary] = []
    for run in runs(window_starts_s, window_s):
        dest_from = (run[0] - window_s) * NS_PER_S
        dest_until = (run[-1] + 2 * window_s) * NS_PER_S
        dest_passes = passes(target.dest, dest_from, dest_until, True)
        upstream = []
        for i, det in enumerate(target.detectors[:-1]):
            reach = sum(h.max_seconds for h in target.hops[i:]) * NS_PER_S
            upstream.append(passes(det, dest_from - reach, dest_until, False))
        out.extend(
            compute_from_passes(
                target, upstream, dest_passes, run, window_s, rules,
                computed_ns=time.time_ns(), source_revision=revision, worker=worker,
                kinds=kinds, clock_corrected=corrected, clock_excluded=tuple(sorted(excluded)),
            )
        )
    return out

