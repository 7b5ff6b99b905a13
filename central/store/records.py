"""What central stores, as frozen dataclasses: registry, links and routes as JSON values.

Passes are stored packed (central/store/packed.py); a pass of the earlier per-pass layout
is one JSON value that keeps the original system's {"timestamp": "<unix ns>"} (a string)
and adds the pass figures (to_json, from_kv: still read). Converting between these and
protobuf happens in the services' wire modules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from roadside.central.store import keys

_quote = json.encoder.encode_basestring_ascii  # a JSON string literal, as json.dumps writes it


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# (detector id, timestamp ns, ulid, device id, first ns, last ns, peak ns, peak rssi, count,
# radio, address kind, tagged, alias, device class): a detection ready to store
# (central/store/packed.py). UploadBatch makes these straight from the protobuf (no
# StoredPass per pass: ingest hot path).
Detection = tuple[str, int, str, str, int, int, int, int, int, str, str, bool, bool, str]


def detection_value(
    timestamp_ns: int, first_ns: int, last_ns: int, peak_ns: int, peak_rssi: int, count: int,
    radio: str, address_kind: str, tagged: bool, alias: bool = False,
) -> bytes:
    """A detection's stored JSON (ints given as int): the bytes json.dumps(...,
    separators=(",", ":")) gives, written out (about 3x faster). `"alias":true` ends the
    value of an alias pass (the previous epoch's id, just after a boundary)."""
    return (
        f'{{"timestamp":"{timestamp_ns}","first_ns":{first_ns},"last_ns":{last_ns},'
        f'"peak_ns":{peak_ns},"peak_rssi":{peak_rssi},"count":{count},'
        f'"radio":{_quote(radio)},"address_kind":{_quote(address_kind)},'
        f'"tagged":{"true" if tagged else "false"}{ALIAS_TAIL if alias else ""}}}'
    ).encode()


ALIAS_TAIL = ',"alias":true'


@dataclass(frozen=True, slots=True)
class StoredPass:
    detector_id: str
    ulid: str
    device_id: str
    timestamp_ns: int  # the matching time; decides the bucket
    first_ns: int
    last_ns: int
    peak_ns: int
    peak_rssi: int
    count: int
    radio: str  # roadside.agent.model.RadioKind value; legacy API: "wifi", "bluetooth", "mobile"
    address_kind: str  # roadside.agent.model.AddressKind value, or "unknown"
    tagged: bool = False
    alias: bool = False
    device_class: str = ""  # roadside.common.kinds.DeviceClass value ("": unknown)

    def key(self, ns: str) -> str:
        return keys.detection_key(
            ns, self.detector_id, self.timestamp_ns, self.ulid, self.device_id
        )

    def to_json(self) -> bytes:
        return detection_value(
            int(self.timestamp_ns), int(self.first_ns), int(self.last_ns), int(self.peak_ns),
            int(self.peak_rssi), int(self.count), self.radio, self.address_kind, self.tagged,
            self.alias,
        )

    def as_detection(self) -> Detection:
        return (self.detector_id, int(self.timestamp_ns), self.ulid, self.device_id,
                int(self.first_ns), int(self.last_ns), int(self.peak_ns), int(self.peak_rssi),
                int(self.count), self.radio, self.address_kind, self.tagged, self.alias,
                self.device_class)

    @classmethod
    def from_kv(cls, ns: str, key: str | bytes, value: bytes) -> StoredPass:
        """Read a stored detection; values written by older tools may hold only a timestamp."""
        parsed = keys.parse_detection_key(ns, key)
        data = json.loads(value)
        t = int(data["timestamp"])
        return cls(
            detector_id=parsed.detector_id,
            ulid=parsed.ulid,
            device_id=parsed.device_id,
            timestamp_ns=t,
            first_ns=int(data.get("first_ns", t)),
            last_ns=int(data.get("last_ns", t)),
            peak_ns=int(data.get("peak_ns", t)),
            peak_rssi=int(data.get("peak_rssi", 0)),
            count=int(data.get("count", 1)),
            radio=str(data.get("radio", "unknown")),
            address_kind=str(data.get("address_kind", "unknown")),
            tagged=bool(data.get("tagged", False)),
            alias=bool(data.get("alias", False)),
        )


@dataclass(frozen=True, slots=True)
class DetectorRecord:
    id: str
    name: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    radios: tuple[str, ...] = ()  # roadside.agent.model.RadioKind values
    registered_ns: int = 0

    def to_json(self) -> bytes:
        return _dumps(
            {
                "name": self.name,
                "latitude": self.latitude,
                "longitude": self.longitude,
                "radios": list(self.radios),
                "registered_ns": self.registered_ns,
            }
        )

    @classmethod
    def from_json(cls, detector_id: str, value: bytes) -> DetectorRecord:
        data = json.loads(value)
        return cls(
            id=detector_id,
            name=str(data.get("name", "")),
            latitude=float(data.get("latitude", 0.0)),
            longitude=float(data.get("longitude", 0.0)),
            radios=tuple(data.get("radios", ())),
            registered_ns=int(data.get("registered_ns", 0)),
        )


@dataclass(frozen=True, slots=True)
class LinkRecord:
    src: str
    dest: str
    max_seconds: int
    length_m: float = 0.0  # 0 = unknown
    min_speed_kmh: float = 0.0  # per-link filters (README: Per-link filters); 0 = none
    max_speed_kmh: float = 0.0  # 0 = the workers' max_speed_kmh
    outlier: str = ""  # the outlier filter's name; "" = robust
    vehicle_only: bool = False  # only devices of the vehicle class (Bluetooth Classic car kits)
    # the road between the detectors: longitude, latitude, ... (WGS 84); () = a straight line
    geometry: tuple[float, ...] = ()

    def to_json(self, geometry: bool = True) -> bytes:
        """The stored value; without `geometry`, what its travel times depend on (the
        rules digest: drawing a road differently computes nothing again)."""
        # max_seconds as a string, as the original system wrote it
        data: dict[str, object] = {"max_seconds": str(self.max_seconds),
                                   "length_m": self.length_m}
        if self.min_speed_kmh or self.max_speed_kmh or self.outlier:
            data.update(min_speed_kmh=self.min_speed_kmh, max_speed_kmh=self.max_speed_kmh,
                        outlier=self.outlier)
        if self.vehicle_only:
            data["vehicle_only"] = True
        if geometry and self.geometry:
            data["geometry"] = points(self.geometry)
        return _dumps(data)

    def line(self) -> list[list[float]] | None:
        """The road as [longitude, latitude] points; None when not drawn (straight)."""
        return points(self.geometry) if self.geometry else None

    @classmethod
    def from_json(cls, src: str, dest: str, value: bytes) -> LinkRecord:
        data = json.loads(value)
        return cls(src, dest, int(data["max_seconds"]), float(data.get("length_m", 0.0)),
                   float(data.get("min_speed_kmh", 0.0)), float(data.get("max_speed_kmh", 0.0)),
                   str(data.get("outlier", "")), bool(data.get("vehicle_only", False)),
                   tuple(float(c) for point in data.get("geometry", ()) for c in point))


def points(flat: Sequence[float]) -> list[list[float]]:
    """Longitude, latitude, ... as [longitude, latitude] points."""
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


@dataclass(frozen=True, slots=True)
class RouteRecord:
    name: str
    detector_ids: tuple[str, ...]  # in driving order

    def to_json(self) -> bytes:
        return _dumps({"detector_ids": list(self.detector_ids)})

    @classmethod
    def from_json(cls, name: str, value: bytes) -> RouteRecord:
        return cls(name, tuple(json.loads(value)["detector_ids"]))
