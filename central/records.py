"""What central stores for a detection: one JSON value per etcd key.

The value keeps the original system's {"timestamp": "<unix ns>"} (a string) and adds the
pass figures. Converting between this and protobuf happens in the services' wire modules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from central import keys


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
    radio: str  # agent.model.RadioKind value; legacy: "wifi", "bluetooth", "mobile"
    address_kind: str  # agent.model.AddressKind value, or "unknown"
    tagged: bool = False

    @property
    def key_suffix(self) -> str:
        return f"{self.ulid}.{self.device_id}"

    def key(self, ns: str) -> str:
        return keys.detection_key(ns, self.detector_id, self.timestamp_ns, self.ulid,
                                  self.device_id)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "timestamp": str(self.timestamp_ns),
                "first_ns": self.first_ns,
                "last_ns": self.last_ns,
                "peak_ns": self.peak_ns,
                "peak_rssi": self.peak_rssi,
                "count": self.count,
                "radio": self.radio,
                "address_kind": self.address_kind,
                "tagged": self.tagged,
            },
            separators=(",", ":"),
        ).encode()

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
        )
