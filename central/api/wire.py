"""protobuf <-> central records, in one place: services convert here and nowhere else.

Radio and address kinds are stored as the roadside.agent.model enum values ("wifi", "ble",
"ble_public", ...); the original API's detections carry "wifi", "bluetooth" or "mobile".
"""

from __future__ import annotations

import operator
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from roadside.central.store.event_reads import Shape
from roadside.central.store.records import DetectorRecord, LinkRecord, RouteRecord, StoredPass
from roadside.common.kinds import ADDRESS_TO_PB, CLASS_TO_PB, RADIO_TO_PB
from roadside.proto.query import query_pb2 as legacy_query_pb2
from roadside.proto.v1 import collector_pb2, query_pb2, stored_pb2, types_pb2

# protobuf kind -> the roadside.agent.model enum value, from the agent's own enum <-> protobuf maps
RADIO_TO_TEXT: dict[int, str] = {pb: radio.value for radio, pb in RADIO_TO_PB.items()}
TEXT_TO_RADIO: dict[str, int] = {
    **{text: kind for kind, text in RADIO_TO_TEXT.items()},
    "bluetooth": types_pb2.RADIO_KIND_BT_CLASSIC,  # original API
}

ADDRESS_TO_TEXT: dict[int, str] = {pb: kind.value for kind, pb in ADDRESS_TO_PB.items()}
TEXT_TO_ADDRESS: dict[str, int] = {text: kind for kind, text in ADDRESS_TO_TEXT.items()}
CLASS_TO_TEXT: dict[int, str] = {pb: c.value for c, pb in CLASS_TO_PB.items()}
TEXT_TO_CLASS: dict[str, int] = {text: pb for pb, text in CLASS_TO_TEXT.items()}


# passes -------------------------------------------------------------------

# the fields a Pass and a StoredPass share by name and meaning
_PASS_FIELDS = (
    "ulid", "device_id", "first_ns", "last_ns", "peak_ns", "peak_rssi", "count",
    "timestamp_ns", "tagged", "alias",
)
_pass_values = operator.attrgetter(*_PASS_FIELDS)


def pass_to_record(detector_id: str, p: types_pb2.Pass) -> StoredPass:
    return StoredPass(
        detector_id=detector_id,
        radio=RADIO_TO_TEXT.get(p.radio, "unknown"),
        address_kind=ADDRESS_TO_TEXT.get(p.address_kind, "unknown"),
        device_class=CLASS_TO_TEXT.get(p.device_class, ""),
        **dict(zip(_PASS_FIELDS, _pass_values(p), strict=True)),
    )


def record_to_pass(record: StoredPass) -> types_pb2.Pass:
    return types_pb2.Pass(
        radio=TEXT_TO_RADIO.get(record.radio, types_pb2.RADIO_KIND_UNSPECIFIED),  # type: ignore[arg-type]
        address_kind=TEXT_TO_ADDRESS.get(  # type: ignore[arg-type]
            record.address_kind, types_pb2.ADDRESS_KIND_UNSPECIFIED
        ),
        device_class=TEXT_TO_CLASS.get(  # type: ignore[arg-type]
            record.device_class, types_pb2.DEVICE_CLASS_UNSPECIFIED),
        **dict(zip(_PASS_FIELDS, _pass_values(record), strict=True)),
    )


# detectors, links, routes -------------------------------------------------

def detector_to_record(d: types_pb2.Detector) -> DetectorRecord:
    return DetectorRecord(
        id=d.id,
        name=d.name,
        latitude=d.latitude,
        longitude=d.longitude,
        radios=tuple(RADIO_TO_TEXT[r] for r in d.radios if r in RADIO_TO_TEXT),
        registered_ns=d.registered_ns,
    )


def record_to_detector(record: DetectorRecord) -> types_pb2.Detector:
    return types_pb2.Detector(
        id=record.id,
        name=record.name,
        latitude=record.latitude,
        longitude=record.longitude,
        radios=[TEXT_TO_RADIO[r] for r in record.radios if r in TEXT_TO_RADIO],  # type: ignore[misc]
        registered_ns=record.registered_ns,
    )


def link_sources_to_records(
    dest: str, sources: list[collector_pb2.LinkSource]
) -> list[LinkRecord]:
    return [LinkRecord(s.src_detector_id, dest, s.max_seconds, s.length_m, s.min_speed_kmh,
                       s.max_speed_kmh, s.outlier_filter, s.vehicle_only, tuple(s.geometry))
            for s in sources]


def record_to_link(record: LinkRecord) -> types_pb2.Link:
    return types_pb2.Link(
        src_detector_id=record.src,
        dest_detector_id=record.dest,
        max_seconds=record.max_seconds,
        length_m=record.length_m,
        min_speed_kmh=record.min_speed_kmh,
        max_speed_kmh=record.max_speed_kmh,
        outlier_filter=record.outlier,
        vehicle_only=record.vehicle_only,
        geometry=record.geometry,
    )


def route_to_record(route: collector_pb2.Route) -> RouteRecord:
    return RouteRecord(route.name, tuple(route.detector_ids))


def record_to_route(record: RouteRecord) -> collector_pb2.Route:
    return collector_pb2.Route(name=record.name, detector_ids=list(record.detector_ids))


# status -------------------------------------------------------------------

def status_to_dict(status: types_pb2.AgentStatus) -> dict[str, Any]:
    """The stored form of a status report: protobuf JSON with the .proto field names."""
    return json_format.MessageToDict(status, preserving_proto_field_name=True)


def dict_to_status(data: dict[str, Any]) -> types_pb2.AgentStatus:
    """A stored status report back as AgentStatus (fields it does not know are skipped)."""
    return json_format.ParseDict(data, types_pb2.AgentStatus(), ignore_unknown_fields=True)


# query results (central/api/query.py, central/api/legacy_query.py) -------

EventFields = dict[str, Any]  # an Event as its fields: a page's message takes a list of them
# as they are (no Event made and then copied into the page)


def record_to_event_fields(record: StoredPass) -> EventFields:
    return {"detector_id": record.detector_id, "pass": record_to_pass(record)}


def packed_to_event(detector_id: str, t: int, ulid: str, device: str,
                    p: stored_pb2.PackedPass, radio: str, kind: str) -> EventFields:
    """An Event's fields straight from a stored block's pass (packed.MakePass); the flags
    only when set (a field given costs the page's message a step even when it is zero)."""
    fields = {"ulid": ulid, "device_id": device, "timestamp_ns": t,
              "first_ns": t - p.first_before_ns, "last_ns": t + p.last_after_ns,
              "peak_ns": t + p.peak_offset_ns, "peak_rssi": p.peak_rssi, "count": p.count,
              "radio": TEXT_TO_RADIO.get(radio, 0), "address_kind": TEXT_TO_ADDRESS.get(kind, 0)}
    if p.tagged:
        fields["tagged"] = True
    if p.alias:
        fields["alias"] = True
    if p.device_class:
        fields["device_class"] = p.device_class
    return {"detector_id": detector_id, "pass": fields}


EVENTS = Shape(packed_to_event, record_to_event_fields)  # what the query service reads

Row = tuple[Any, ...]  # an event as the fields of EventColumns, in their order


def packed_to_row(detector_id: str, t: int, ulid: str, device: str,
                  p: stored_pb2.PackedPass, radio: str, kind: str) -> Row:
    return (detector_id, ulid, device, t - p.first_before_ns, t + p.last_after_ns,
            t + p.peak_offset_ns, p.peak_rssi, p.count, radio, kind, t, p.tagged, p.alias,
            p.device_class)


def record_to_row(r: StoredPass) -> Row:
    return (r.detector_id, r.ulid, r.device_id, r.first_ns, r.last_ns, r.peak_ns, r.peak_rssi,
            r.count, r.radio, r.address_kind, r.timestamp_ns, r.tagged, r.alias,
            TEXT_TO_CLASS.get(r.device_class, 0))


ROWS = Shape(packed_to_row, record_to_row)  # for rows_to_columns


def rows_to_columns(rows: list[Row]) -> query_pb2.EventColumns:
    """A page of events as columns."""
    (detectors, ulids, devices, firsts, lasts, peaks, rssis, counts, radios, kinds, times,
     tagged, alias, classes) = zip(*rows, strict=True) if rows else ((),) * 14
    index: dict[str, int] = {}
    at = [index.setdefault(d, len(index)) for d in detectors]
    return query_pb2.EventColumns(
        detector_ids=list(index), detector=at, ulid=ulids, device_id=devices,
        first_ns=firsts, last_ns=lasts, peak_ns=peaks, peak_rssi=rssis, count=counts,
        radio=[TEXT_TO_RADIO.get(r, 0) for r in radios],  # type: ignore[misc]
        address_kind=[TEXT_TO_ADDRESS.get(k, 0) for k in kinds],  # type: ignore[misc]
        timestamp_ns=times,
        tagged=tagged, alias=alias, device_class=classes)


def timestamp_to_ns(ts: timestamp_pb2.Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def ns_to_timestamp(t_ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=t_ns // 1_000_000_000, nanos=t_ns % 1_000_000_000)


def record_to_legacy_event(record: StoredPass) -> legacy_query_pb2.DetectionEvent:
    """The original API's DetectionEvent: time = [the detection's timestamp]."""
    return legacy_query_pb2.DetectionEvent(
        time=[ns_to_timestamp(record.timestamp_ns)],
        device_id=record.device_id,
        detector_id=record.detector_id,
    )


def packed_to_legacy_event(detector_id: str, t: int, ulid: str, device: str,
                           p: stored_pb2.PackedPass, radio: str,
                           kind: str) -> legacy_query_pb2.DetectionEvent:
    """record_to_legacy_event straight from a stored block's pass (packed.MakePass)."""
    return legacy_query_pb2.DetectionEvent(
        time=[{"seconds": t // 1_000_000_000, "nanos": t % 1_000_000_000}],
        device_id=device, detector_id=detector_id)


LEGACY_EVENTS = Shape(packed_to_legacy_event, record_to_legacy_event)
