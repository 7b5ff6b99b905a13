"""Domain values shared by sources, privacy, passes and the uplink."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from roadside.common.kinds import AddressKind, DeviceClass, RadioKind

__all__ = ["AddressKind", "DeviceClass", "Pass", "RadioKind", "Sighting", "TimestampChoice"]


class TimestampChoice(enum.Enum):
    """Which time of a pass is used for matching."""

    FIRST = "first"
    PEAK = "peak"
    LAST = "last"


@dataclass(frozen=True, slots=True)
class Sighting:
    """One received frame or advertisement. Holds the raw MAC: lives in RAM only.

    `mac` is excluded from repr so that logging a sighting never prints it.
    """

    mac: bytes = field(repr=False)  # 6 bytes
    t_ns: int  # unix nanoseconds
    rssi: int | None  # dBm
    radio: RadioKind
    address_kind: AddressKind
    source: str  # name of the source that heard it
    channel: int | None = None
    device_class: DeviceClass = DeviceClass.UNKNOWN  # Bluetooth Classic: its Class of Device


@dataclass(frozen=True, slots=True)
class Pass:
    """One device's visit at one detector; the event the agent uploads."""

    ulid: str
    device_id: str  # 32 lowercase hex: keyed hash of the MAC
    first_ns: int
    last_ns: int
    peak_ns: int
    peak_rssi: int
    count: int
    radio: RadioKind
    address_kind: AddressKind
    timestamp_ns: int  # the time used for matching
    tagged: bool = False
    alias: bool = False  # the same visit under the previous epoch's id (just after a boundary)
    device_class: DeviceClass = DeviceClass.UNKNOWN
