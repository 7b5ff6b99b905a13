"""The original `collector` package's CollectorService, every method, on roadside's data.

A DetectionEvent's every timestamp is one detection (first = peak = last, count 1). Its
ULID is made from (detector, device id, time), so the same event sent again rewrites the
same key. Coordinates are fixed-point: 1 = 0.00001 degree. A StreamEventLog (at most
MAX_STREAM_DETECTIONS) is committed once it has ended: a message refused anywhere in it
(invalid, over a bound, another detector's) ends the call and nothing of it is stored. An
upload registers its detector, as the current API's do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from roadside.central.api import validation
from roadside.central.api.collector import IngestServicer
from roadside.central.api.grpc_errors import grpc_method
from roadside.central.api.validation import LEGACY_DEGREE_UNITS
from roadside.central.errors import InvalidArgument, ResourceExhausted
from roadside.central.store.records import DetectorRecord, LinkRecord, StoredPass
from roadside.central.store.ulids import deterministic_ulid
from roadside.proto.collector import collector_pb2, collector_pb2_grpc

log = logging.getLogger(__name__)

MAX_STREAM_DETECTIONS = 100_000  # detections in one StreamEventLog call (held until its end)
COMMIT_DETECTIONS = 2_000  # a whole stream goes to etcd this many passes at a time
STATUS_SOURCE = "collector.CreateDetectorStatus"


def event_log_records(event_log: collector_pb2.EventLog) -> list[StoredPass]:
    """The detections of a validated EventLog."""
    detector_id = event_log.loc.detector_id
    out = []
    for index, event in enumerate(event_log.events):
        radio, device_id = validation.legacy_device_id(event, f"events[{index}]")
        for stamp in event.time:
            t = stamp.ToNanoseconds()
            ulid = deterministic_ulid(t, detector_id, device_id)
            out.append(StoredPass(detector_id, ulid, device_id, t, t, t, t, 0, 1, radio, "unknown"))
    return out


class LegacyCollectorServicer(IngestServicer, collector_pb2_grpc.CollectorServiceServicer):

    @grpc_method
    def CreateEventLog(
        self, request: collector_pb2.EventLog, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        validation.legacy_event_log(request, self.clock_ns(), self.limits)
        records = event_log_records(request)
        self.ingest.take(request.loc.detector_id, len(records))
        self._commit(records, {"wifi": 0, "bluetooth": 0, "mobile": 0})  # registers it too
        return empty_pb2.Empty()

    @grpc_method
    def StreamEventLog(
        self, request_iterator: Iterator[collector_pb2.EventLog], context: grpc.ServicerContext
    ) -> collector_pb2.SendStreamResponse:
        # all or nothing: a stream refused at any message (invalid, over a bound, another
        # detector's) stores none of it; the whole stream is committed once it has ended.
        # Until then it is held as it came, serialized (about 30 bytes a detection), not as
        # passes (hundreds of bytes each): 16 streams of 100,000 held cost ~50 MB, not ~1 GB.
        counts = {"wifi": 0, "bluetooth": 0, "mobile": 0}
        held: list[bytes] = []
        total = 0
        for index, event_log in enumerate(request_iterator):
            try:
                validation.legacy_event_log(event_log, self.clock_ns(), self.limits)
            except InvalidArgument as exc:
                raise InvalidArgument(f"messages[{index}].{exc}; nothing stored") from exc
            found = sum(len(event.time) for event in event_log.events)
            if total + found > MAX_STREAM_DETECTIONS:
                raise InvalidArgument(f"messages[{index}]: more than {MAX_STREAM_DETECTIONS} "
                                      "detections in one stream; nothing stored")
            try:
                self.ingest.take(event_log.loc.detector_id, found)
            except ResourceExhausted as exc:
                raise ResourceExhausted(f"messages[{index}]: {exc}; nothing stored") from exc
            total += found
            held.append(event_log.SerializeToString())
        records: list[StoredPass] = []
        for message in held:  # into etcd a few thousand passes at a time
            records += event_log_records(collector_pb2.EventLog.FromString(message))
            if len(records) >= COMMIT_DETECTIONS:
                self._commit(records, counts)
                records = []
        self._commit(records, counts)
        return collector_pb2.SendStreamResponse(**counts)

    def _commit(self, records: list[StoredPass], counts: dict[str, int]) -> int:
        self.store.put_passes(records)
        heard: dict[str, set[str]] = {}
        for record in records:
            counts[record.radio] += 1
            heard.setdefault(record.detector_id, set()).add(record.radio)
        for detector_id, radios in heard.items():
            self.heard(detector_id, radios)
        return len(records)

    @grpc_method
    def CreateDetectorLink(
        self, request: collector_pb2.DetectorLink, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        validation.legacy_link(request)
        dest = request.dest_detector_id
        sources = [LinkRecord(s.detector_id, dest, s.max_seconds) for s in request.src_detectors]
        after = {link.src for link in self.store.links(dest)} | {s.src for s in sources}
        if len(after) > validation.MAX_SOURCES:
            raise InvalidArgument(
                f"src_detectors: {dest} would have {len(after)} incoming links, at most "
                f"{validation.MAX_SOURCES}"
            )
        self.store.set_links(dest, sources, replace=False)
        return empty_pb2.Empty()

    @grpc_method
    def CreateCoordinates(
        self, request: collector_pb2.Coordinates, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        validation.legacy_coordinates(request, "")
        self._set_coordinates(request)
        return empty_pb2.Empty()

    @grpc_method
    def CreateDetectorStatus(
        self, request: collector_pb2.DetectorStatus, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        validation.legacy_status(request)
        detector_id = request.loc.detector_id
        now = self.clock_ns()
        status = {
            "detector_id": detector_id,
            "reported_ns": str(now),
            "battery_voltage": request.battery_voltage,
            "active_detectors": [
                collector_pb2.DEVICE.Name(d) for d in request.active_detectors
            ],
            "detection_count": {str(k): str(v) for k, v in request.detection_count.items()},
            "source": STATUS_SOURCE,
        }
        self.store.put_status(detector_id, status, now)
        if request.loc.latitude or request.loc.longitude:
            self._set_coordinates(request.loc)
        return empty_pb2.Empty()

    def _set_coordinates(self, loc: collector_pb2.Coordinates) -> None:
        old = self.store.get_detector(loc.detector_id) or DetectorRecord(loc.detector_id)
        self.store.register_detector(
            DetectorRecord(
                old.id, old.name,
                loc.latitude / LEGACY_DEGREE_UNITS, loc.longitude / LEGACY_DEGREE_UNITS,
                old.radios, old.registered_ns,
            )
        )
