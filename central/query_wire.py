"""Stored records -> the query APIs' protobuf (roadside.v1 and the original `query`)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, timestamp_pb2

from central.records import DetectorRecord, LinkRecord, RouteRecord, StoredPass
from proto.query import query_pb2 as legacy_pb2
from proto.roadside.v1 import collector_pb2, query_pb2, types_pb2

# agent.model.RadioKind / AddressKind values are the enum names' suffixes: "ble" -> RADIO_KIND_BLE
_RADIOS = {n.removeprefix("RADIO_KIND_").lower(): v for n, v in types_pb2.RadioKind.items()}
_KINDS = {n.removeprefix("ADDRESS_KIND_").lower(): v for n, v in types_pb2.AddressKind.items()}


def _radio(value: str) -> Any:
    return _RADIOS.get(value, types_pb2.RADIO_KIND_UNSPECIFIED)


def _address_kind(value: str) -> Any:
    return _KINDS.get(value, types_pb2.ADDRESS_KIND_UNSPECIFIED)


def event_to_pb(item: StoredPass) -> query_pb2.Event:
    return query_pb2.Event(
        detector_id=item.detector_id,
        **{"pass": types_pb2.Pass(
            ulid=item.ulid,
            device_id=item.device_id,
            first_ns=item.first_ns,
            last_ns=item.last_ns,
            peak_ns=item.peak_ns,
            peak_rssi=item.peak_rssi,
            count=item.count,
            radio=_radio(item.radio),
            address_kind=_address_kind(item.address_kind),
            timestamp_ns=item.timestamp_ns,
            tagged=item.tagged,
        )},
    )


def detector_to_pb(record: DetectorRecord) -> types_pb2.Detector:
    return types_pb2.Detector(
        id=record.id,
        name=record.name,
        latitude=record.latitude,
        longitude=record.longitude,
        radios=[_radio(r) for r in record.radios],
        registered_ns=record.registered_ns,
    )


def link_to_pb(record: LinkRecord) -> types_pb2.Link:
    return types_pb2.Link(
        src_detector_id=record.src,
        dest_detector_id=record.dest,
        max_seconds=record.max_seconds,
        length_m=record.length_m,
    )


def route_to_pb(record: RouteRecord) -> collector_pb2.Route:
    return collector_pb2.Route(name=record.name, detector_ids=list(record.detector_ids))


def status_to_pb(status: dict[str, Any]) -> types_pb2.AgentStatus:
    """A stored status report (protobuf JSON dict) -> AgentStatus; unknown fields ignored."""
    return json_format.ParseDict(status, types_pb2.AgentStatus(), ignore_unknown_fields=True)


def timestamp_ns(ts: timestamp_pb2.Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def legacy_event_to_pb(item: StoredPass) -> legacy_pb2.DetectionEvent:
    ts = timestamp_pb2.Timestamp(
        seconds=item.timestamp_ns // 1_000_000_000, nanos=item.timestamp_ns % 1_000_000_000
    )
    return legacy_pb2.DetectionEvent(
        time=[ts], device_id=item.device_id, detector_id=item.detector_id
    )
