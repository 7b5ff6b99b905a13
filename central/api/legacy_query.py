"""The original `query` package's QueryService, served on roadside's data.

Range.after is inclusive and Range.before exclusive (roadside's since/until); an unset
bound is open. limit 0 means no limit (GetEvents: at most MAX_UNARY_EVENTS, refused
beyond). Empty detector_ids means every detector.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc

from roadside.central.api import wire
from roadside.central.api.grpc_errors import grpc_method
from roadside.central.api.query import check_detector_ids, event_query
from roadside.central.errors import InvalidArgument, NotFound
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.proto.query import query_pb2, query_pb2_grpc

log = logging.getLogger(__name__)

# one unary response stays well under gRPC's default 4 MiB receive limit (~80 B an event)
MAX_UNARY_EVENTS = 20_000


LATEST_NS = (2**48 - 1) * 1_000_000  # the last millisecond a ULID (a report's key) holds


def _bounds(request: query_pb2.GetEventsRequest | query_pb2.GetBatteryVoltageRequest) -> tuple[
    int, int
]:
    if request.limit < 0:
        raise InvalidArgument(f"limit: must not be negative, got {request.limit}")
    since = until = 0
    if request.HasField("range"):
        if request.range.HasField("after"):
            since = wire.timestamp_to_ns(request.range.after)
        if request.range.HasField("before"):
            until = wire.timestamp_to_ns(request.range.before)
    if since < 0 or until < 0:
        raise InvalidArgument("range: times before 1970 are not stored")
    if since > LATEST_NS or until > LATEST_NS:
        raise InvalidArgument("range: times after the year 10889 (ULID's last millisecond) "
                              "are not stored")
    if since and until and until <= since:
        raise InvalidArgument("range.before: must be after range.after")
    return since, until


class LegacyQueryServicer(query_pb2_grpc.QueryServiceServicer):
    """GetEvents, StreamEvents and GetBatteryVoltage of the original system."""

    def __init__(self, store: EtcdStore, archive_dir: Path | None = None) -> None:
        self.store = store
        self.reader = EventReader(store, archive_dir)

    def _query(self, request: query_pb2.GetEventsRequest) -> EventQuery:
        since, until = _bounds(request)
        return event_query(self.store, self.reader, request.detector_ids, since, until)

    def _known(self, detector_id: str) -> bool:
        return bool(
            self.store.get_detector(detector_id)
            or self.reader.has_detector(detector_id)
            or self.store.statuses([detector_id])
        )

    def _events(self, request: query_pb2.GetEventsRequest) -> Iterator[query_pb2.DetectionEvent]:
        query = self._query(request)
        events = self.reader.iter_events(query, shape=wire.LEGACY_EVENTS)
        yield from itertools.islice(events, request.limit or None)

    @grpc_method
    def GetEvents(
        self, request: query_pb2.GetEventsRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetEventsResponse:
        if request.limit > MAX_UNARY_EVENTS:
            raise InvalidArgument(
                f"limit: at most {MAX_UNARY_EVENTS} in one response (StreamEvents has no cap)"
            )
        events = list(itertools.islice(self._events(request), MAX_UNARY_EVENTS + 1))
        if len(events) > MAX_UNARY_EVENTS:
            raise InvalidArgument(
                f"range: more than {MAX_UNARY_EVENTS} events; narrow it, set limit, "
                "or use StreamEvents"
            )
        return query_pb2.GetEventsResponse(events=events)

    @grpc_method
    def StreamEvents(
        self, request: query_pb2.GetEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[query_pb2.DetectionEvent]:
        yield from self._events(request)

    @grpc_method
    def GetBatteryVoltage(
        self, request: query_pb2.GetBatteryVoltageRequest, context: grpc.ServicerContext
    ) -> query_pb2.GetBatteryVoltageResponse:
        """Per detector, the battery voltages its status reports gave, oldest first."""
        since, until = _bounds(request)
        ids = check_detector_ids(request.detector_ids) or tuple(
            str(s.get("detector_id", "")) for s in self.store.statuses()
        )
        reports = []
        for detector_id in ids:
            history = self.store.status_history(detector_id, since, until)
            if not history and not request.detector_ids:
                continue
            if not history and not self._known(detector_id):
                raise NotFound(f"unknown detector {detector_id!r}")
            volts = [float(h["battery_voltage"]) for h in history if h.get("battery_voltage")]
            if request.limit:
                volts = volts[: request.limit]
            reports.append(query_pb2.VoltageReport(detector_id=detector_id, voltage=volts))
        return query_pb2.GetBatteryVoltageResponse(reports=reports)
