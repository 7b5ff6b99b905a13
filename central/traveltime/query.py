"""Stored travel-time windows for the query service: checked requests, reads, live follow.

The servicer methods in central/api/query.py stay thin: they check the time range,
then call `windows_for` or `follow`, and convert with `to_proto`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from roadside.central.errors import InvalidArgument, NotFound, StoreUnavailable
from roadside.central.store import keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import backfill, profiles, store
from roadside.central.traveltime.config import MAX_WINDOW_S
from roadside.central.traveltime.locks import live_workers
from roadside.central.traveltime.model import Figures, Target, WindowSummary
from roadside.proto.v1 import query_pb2, types_pb2

log = logging.getLogger(__name__)

NS_PER_S = keys.NS_PER_S



@dataclass(frozen=True, slots=True)
class WindowQuery:
    """Windows that overlap [since_ns, until_ns); 0 = open end."""

    target: Target
    since_ns: int
    until_ns: int
    include_samples: bool

    def wanted(self, summary: WindowSummary) -> bool:
        return summary.window_end_ns > self.since_ns and (
            not self.until_ns or summary.window_start_ns < self.until_ns
        )


def check_request(central: EtcdStore, request: query_pb2.GetTravelTimesRequest) -> WindowQuery:
    """The query a request asks for; InvalidArgument naming the field, NotFound if unknown."""
    kind = request.WhichOneof("target")
    if kind is None:
        raise InvalidArgument("target: give link (src and dest detector ids) or route")
    if kind == "link":
        src, dest = request.link.src_detector_id, request.link.dest_detector_id
        for field, value in (("link.src_detector_id", src), ("link.dest_detector_id", dest)):
            if not keys.valid_detector_id(value):
                raise InvalidArgument(
                    f"{field}: {value!r} is not a detector id ([a-z0-9][a-z0-9_-]{{0,62}})"
                )
        if not any(lk.src == src for lk in central.links(dest)):
            raise NotFound(f"unknown link {src} -> {dest}")
        target = Target((LinkRecord(src, dest, 0),))
    else:
        name = request.route
        if not keys.ROUTE_NAME_RE.fullmatch(name):
            raise InvalidArgument(f"route: {name!r} is not a route name ([a-z0-9][a-z0-9_-]*)")
        if not any(r.name == name for r in central.routes()):
            raise NotFound(f"unknown route {name!r}")
        target = Target((LinkRecord("", "", 0),), route=name)
    return WindowQuery(target, request.since_ns, request.until_ns, request.include_samples)


def windows_for(central: EtcdStore, query: WindowQuery, revision: int = 0) -> list[WindowSummary]:
    since_s = max(query.since_ns // NS_PER_S - MAX_WINDOW_S, 0) if query.since_ns else 0
    until_s = -(-query.until_ns // NS_PER_S) if query.until_ns else 0
    found = store.read_windows(
        central.client, central.namespace, query.target, since_s, until_s, revision
    )
    return [summary for summary, _rev in found if query.wanted(summary)]


class Follow:
    """The stored windows, then each window as it is written (computed or recomputed).

    Iterate it; cancel() (e.g. when the client goes away) ends the iteration. Safe twice.
    """

    def __init__(self, central: EtcdStore, query: WindowQuery) -> None:
        self.central = central
        self.query = query
        self._cancel: Any = None
        self._cancelled = threading.Event()

    def __iter__(self) -> Iterator[WindowSummary]:
        client = self.central.client
        revision = store.current_revision(client, self.central.namespace)
        stored = windows_for(self.central, self.query, revision)
        # start -> (computed, source revision) of what was yielded: a block holds its
        # hour's other windows too
        seen = {w.window_start_ns: (w.computed_ns, w.source_revision) for w in stored}
        yield from stored
        if self._cancelled.is_set():
            return
        prefix = self.query.target.windows_prefix(self.central.namespace)
        try:
            events, self._cancel = client.watch_prefix(prefix, start_revision=revision + 1)
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd watch failed: {exc}") from exc
        if self._cancelled.is_set():
            self._cancel()
            return
        try:
            for event in events:
                if not event.value:
                    continue  # a deletion
                for summary in store.windows_at(event.key, event.value):
                    mark = (summary.computed_ns, summary.source_revision)
                    if seen.get(summary.window_start_ns) == mark:
                        continue
                    seen[summary.window_start_ns] = mark
                    if self.query.wanted(summary):
                        yield summary
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd watch ended: {exc}") from exc

    def cancel(self) -> None:
        self._cancelled.set()
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()


def progress_to_proto(p: backfill.Progress) -> types_pb2.WindowProgress:
    return types_pb2.WindowProgress(
        windows_left=p.windows_left, windows_total=p.windows_total,
        oldest_window_ns=p.oldest_window_s * NS_PER_S, worker=p.worker, updated_ns=p.updated_ns,
    )


def running_backfills(central: EtcdStore) -> dict[str, types_pb2.WindowProgress]:
    """The backfills workers are running now, by target path ("link/A/B", "route/R")."""
    found = backfill.read_progress(central.client, central.namespace)
    return {path: progress_to_proto(p) for path, p in found.items()}


def add_backfills(central: EtcdStore, messages: list[Any], path_of: Callable[[Any], str]) -> None:
    """Set `backfill` on each Link or Route message whose older windows are being computed."""
    running = running_backfills(central)
    for msg in messages:
        progress = running.get(path_of(msg))
        if progress is not None:
            msg.backfill.CopyFrom(progress)


def response(central: EtcdStore, query: WindowQuery, found: list[WindowSummary]
             ) -> query_pb2.GetTravelTimesResponse:
    """The windows, and what the workers are doing (for a client's "why none" hint)."""
    msg = query_pb2.GetTravelTimesResponse(
        windows=[to_proto(w, query.include_samples) for w in found],
        workers=live_workers(central.client, central.namespace),
    )
    profile = profiles.read(central.client, central.namespace, query.target.path)
    if profile is not None:
        for window in msg.windows:
            window.normal_s = profile.normal_at(window.window_start_ns) or 0.0
    progress = running_backfills(central).get(query.target.path)
    if progress is not None:
        msg.backfill.CopyFrom(progress)
    return msg


def to_proto(summary: WindowSummary, include_samples: bool) -> query_pb2.TravelTimeWindow:
    msg = query_pb2.TravelTimeWindow(
        src_detector_id=summary.src,
        dest_detector_id=summary.dest,
        route=summary.route,
        window_start_ns=summary.window_start_ns,
        window_end_ns=summary.window_end_ns,
        computed_ns=summary.computed_ns,
        provisional=summary.provisional,
    )
    if summary.nobody:  # "no data", not suppressed
        msg.no_data = True
        return msg
    if summary.suppressed:  # under k distinct devices: no figure at all, not even counts
        msg.suppressed = True
        return msg
    msg.count = summary.count
    msg.samples_by_class.update(summary.by_class)
    msg.samples_by_address_kind.update(summary.by_address_kind)
    msg.vehicle_only = summary.vehicle_only
    msg.clock_corrected_s.update(summary.clock_corrected)
    msg.clock_excluded.extend(summary.clock_excluded)
    msg.rejections.extend(query_pb2.Rejection(reason=reason, count=count)
                          for reason, count in sorted(summary.rejections.items()))
    f = summary.figures
    if f is not None:
        msg.median_s, msg.p10_s, msg.p25_s = f.median_s, f.p10_s, f.p25_s
        msg.p75_s, msg.p90_s, msg.mad_s = f.p75_s, f.p90_s, f.mad_s
        if include_samples:
            msg.samples_s.extend(summary.samples_s)
    return msg


def from_proto(msg: query_pb2.TravelTimeWindow) -> WindowSummary:
    """The CLI's way back from the wire to the domain value (plots, rows)."""
    figures = None
    if not msg.suppressed and not msg.no_data:
        figures = Figures(msg.median_s, msg.p10_s, msg.p25_s, msg.p75_s, msg.p90_s, msg.mad_s)
    return WindowSummary(
        src=msg.src_detector_id,
        dest=msg.dest_detector_id,
        route=msg.route,
        window_start_ns=msg.window_start_ns,
        window_end_ns=msg.window_end_ns,
        count=msg.count,
        suppressed=msg.suppressed,
        figures=figures,
        rejections={r.reason: r.count for r in msg.rejections},
        samples_s=tuple(msg.samples_s),
        computed_ns=msg.computed_ns,
        no_data=msg.no_data,
        normal_s=msg.normal_s or None,
        by_class=dict(msg.samples_by_class),
        by_address_kind=dict(msg.samples_by_address_kind),
        vehicle_only=msg.vehicle_only,
        clock_corrected=dict(msg.clock_corrected_s),
        clock_excluded=tuple(msg.clock_excluded),
        provisional=msg.provisional,
    )
