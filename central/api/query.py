"""roadside.v1 QueryService: what operators read from central (events, detectors, links, status).

Every input is checked here, once; a bad one gets INVALID_ARGUMENT naming the field, an
explicitly requested detector central has never heard of gets NOT_FOUND ("unknown detector").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from roadside.central.api import validation, wire
from roadside.central.api.grpc_errors import grpc_method
from roadside.central.errors import InvalidArgument, NotFound
from roadside.central.store.clocks import CLOCK_OFFSET_MAX_S, read_estimates
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import (
    FOLLOW_BACKLOG_EVENTS,
    MAX_PAGE,
    EventQuery,
    EventReader,
    Shape,
)
from roadside.central.traveltime import query as traveltime_query
from roadside.central.traveltime import store as traveltime_store
from roadside.common.iters import batched
from roadside.proto.v1 import query_pb2, query_pb2_grpc

log = logging.getLogger(__name__)

STREAM_PAGE = 1000  # events per StreamEventPages message (about 130 kB)


def check_detector_ids(ids: Sequence[str], field: str = "detector_ids") -> tuple[str, ...]:
    """Each id valid (InvalidArgument naming field[index]); duplicates dropped, order kept."""
    for i, detector_id in enumerate(ids):
        validation.detector_id(detector_id, f"{field}[{i}]")
    return tuple(dict.fromkeys(ids))


def check_range(since_ns: int, until_ns: int) -> None:
    if since_ns < 0:
        raise InvalidArgument(f"since_ns: must not be negative, got {since_ns}")
    if until_ns < 0:
        raise InvalidArgument(f"until_ns: must not be negative, got {until_ns}")
    if since_ns and until_ns and until_ns <= since_ns:
        raise InvalidArgument(f"until_ns: {until_ns} is not after since_ns {since_ns}")


def event_query(
    store: EtcdStore, reader: EventReader, ids: Sequence[str], since_ns: int, until_ns: int
) -> EventQuery:
    """A checked EventQuery; NotFound for an explicitly named detector that is unknown."""
    detector_ids = check_detector_ids(ids)
    check_range(since_ns, until_ns)
    for detector_id in detector_ids:
        if not reader.has_detector(detector_id) and store.get_detector(detector_id) is None:
            raise NotFound(f"unknown detector {detector_id!r}")
    return EventQuery(detector_ids, since_ns, until_ns)


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    """Serves roadside.v1 queries from an EtcdStore (travel-time methods are added elsewhere)."""

    def __init__(self, store: EtcdStore, follow_backlog: int = FOLLOW_BACKLOG_EVENTS,
                 archive_dir: Path | None = None,
                 clock_offset_max_s: float = CLOCK_OFFSET_MAX_S) -> None:
        self.store = store
        self.reader = EventReader(store, archive_dir)
        self.follow_backlog = follow_backlog
        self.clock_offset_max_s = clock_offset_max_s

    @grpc_method
    def GetEvents(
        self, request: query_pb2.GetEventsRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetEventsResponse:
        if request.limit > MAX_PAGE:
            raise InvalidArgument(f"limit: at most {MAX_PAGE}, got {request.limit}")
        query = event_query(
            self.store, self.reader, request.detector_ids, request.since_ns, request.until_ns
        )
        page = self.reader.page(query, request.limit, request.page_token, wire.EVENTS)
        return query_pb2.GetEventsResponse(events=page.events,
                                           next_page_token=page.next_token)

    def _pages(
        self, request: query_pb2.StreamEventsRequest, context: grpc.ServicerContext,
        shape: Shape = wire.EVENTS,
    ) -> Iterator[list[Any]]:
        """Pages of the events asked for, each event in `shape`."""
        query = event_query(
            self.store, self.reader, request.detector_ids, request.since_ns, request.until_ns
        )
        if not request.follow:
            yield from batched(self.reader.iter_events(query, shape=shape), STREAM_PAGE)
            return
        follow = self.reader.follow(query, self.follow_backlog)
        # the client going away (or the server stopping) ends the watch
        context.add_callback(follow.cancel)
        try:
            for page in follow.pages(STREAM_PAGE):
                yield [shape.from_record(p) for p in page]
        finally:
            follow.cancel()

    @grpc_method
    def StreamEvents(
        self, request: query_pb2.StreamEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[query_pb2.Event]:
        for page in self._pages(request, context):
            for fields in page:
                yield query_pb2.Event(**fields)

    @grpc_method
    def StreamEventPages(
        self, request: query_pb2.StreamEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[query_pb2.GetEventsResponse]:
        for page in self._pages(request, context):
            yield query_pb2.GetEventsResponse(events=page)

    @grpc_method
    def StreamEventColumns(
        self, request: query_pb2.StreamEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[query_pb2.EventColumns]:
        for page in self._pages(request, context, wire.ROWS):
            yield wire.rows_to_columns(page)

    @grpc_method
    def ListDetectors(
        self, request: query_pb2.ListDetectorsRequest, context: grpc.ServicerContext
    ) -> query_pb2.ListDetectorsResponse:
        records = self.store.list_detectors()
        return query_pb2.ListDetectorsResponse(
            detectors=[wire.record_to_detector(r) for r in records]
        )

    @grpc_method
    def GetLinks(
        self, request: query_pb2.GetLinksRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetLinksResponse:
        dest = request.dest_detector_id or None
        if dest is not None:
            validation.detector_id(dest, "dest_detector_id")
        links = [wire.record_to_link(x) for x in self.store.links(dest)]
        traveltime_query.add_backfills(
            self.store, links, lambda m: f"link/{m.src_detector_id}/{m.dest_detector_id}")
        return query_pb2.GetLinksResponse(links=links)

    @grpc_method
    def GetStatus(
        self, request: query_pb2.GetStatusRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetStatusResponse:
        ids = check_detector_ids(request.detector_ids)
        statuses = self.store.statuses(ids)
        found = {s.get("detector_id") for s in statuses}
        for detector_id in ids:
            if detector_id not in found and self.store.get_detector(detector_id) is None:
                raise NotFound(f"unknown detector {detector_id!r}")
        clocks = read_estimates(self.store.client, self.store.namespace,
                                [str(s.get("detector_id", "")) for s in statuses])
        out = []
        for s in statuses:
            status = wire.dict_to_status(s)
            estimate = clocks.get(status.detector_id)
            if estimate is not None:
                status.clock_offset_s = estimate.offset_s
                status.clock_offset_samples = estimate.samples
                status.clock_flagged = (estimate.usable
                                        and abs(estimate.offset_s) > self.clock_offset_max_s)
            out.append(status)
        return query_pb2.GetStatusResponse(statuses=out)

    @grpc_method
    def ListRoutes(
        self, request: query_pb2.ListRoutesRequest, context: grpc.ServicerContext
    ) -> query_pb2.ListRoutesResponse:
        routes = [wire.record_to_route(r) for r in self.store.routes()]
        traveltime_query.add_backfills(self.store, routes, lambda m: f"route/{m.name}")
        return query_pb2.ListRoutesResponse(routes=routes)

    @grpc_method
    def GetTravelTimes(
        self, request: query_pb2.GetTravelTimesRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetTravelTimesResponse:
        check_range(request.since_ns, request.until_ns)
        query = traveltime_query.check_request(self.store, request)
        if request.live:
            if request.since_ns or request.until_ns or request.follow:
                raise InvalidArgument("live: the live figure takes no since, until or follow")
            live = traveltime_store.read_live(self.store.client, self.store.namespace,
                                              query.target)
            found = [] if live is None else [live]
        else:
            found = traveltime_query.windows_for(self.store, query)
        return traveltime_query.response(self.store, query, found)

    @grpc_method
    def ListAudit(
        self, request: query_pb2.ListAuditRequest, context: grpc.ServicerContext
    ) -> query_pb2.ListAuditResponse:
        limit = min(request.limit or 1000, MAX_PAGE)
        entries = self.store.audit(request.since_ns, limit)
        return query_pb2.ListAuditResponse(entries=[
            query_pb2.AuditEntry(at_ns=e["at_ns"], who=e["who"], method=e["method"],
                                 what=e["what"]) for e in entries])

    @grpc_method
    def StreamTravelTimes(
        self, request: query_pb2.GetTravelTimesRequest, context: grpc.ServicerContext
    ) -> Iterator[query_pb2.TravelTimeWindow]:
        check_range(request.since_ns, request.until_ns)
        query = traveltime_query.check_request(self.store, request)
        if not request.follow:
            for window in traveltime_query.windows_for(self.store, query):
                yield traveltime_query.to_proto(window, query.include_samples)
            return
        follow = traveltime_query.Follow(self.store, query)
        context.add_callback(follow.cancel)  # the client going away ends the watch
        try:
            for window in follow:
                yield traveltime_query.to_proto(window, query.include_samples)
        finally:
            follow.cancel()
