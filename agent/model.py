"""Domain values shared by sources, privacy, passes and the uplink."""

from __future__ import annotations

import enum
from typing import NamedTuple

from roadside.common.kinds import AddressKind, DeviceClass, RadioKind

__all__ = ["AddressKind", "DeviceClass", "Pass", "RadioKind", "Sighting", "TimestampChoice"]


class TimestampChoice(enum.Enum):
    """Which time of a pass is used for matching."""

    FIRST = "first"
    PEAK = "peak"
    LAST = "last"


class Sighting(NamedTuple):
    """One received frame or advertisement. Holds the raw MAC: lives in RAM only. (A named
    tuple: one is made per frame, several times faster than a frozen dataclass.)

    `mac` is left out of repr so that logging a sighting never prints it.
    """

    mac: bytes  # 6 bytes
    t_ns: int  # unix nanoseconds
    rssi: int | None  # dBm
    radio: RadioKind
    address_kind: AddressKind
    source: str  # name of the source that heard it
    channel: int | None = None
    device_class: DeviceClass = DeviceClass.UNKNOWN  # Bluetooth Classic: its Class of Device

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}"
                          for name, value in zip(self._fields, self, strict=True)
                          if name != "mac")
        return f"Sighting({shown})"


class Pass(NamedTuple):
    """One device's visit at one detector; the event the agent uploads. (A named tuple:
    immutable, and made for every pass closed, several times faster than a frozen
    dataclass.) Its ULID is derived from it when it is sent (`passes.pass_ulid`)."""

    device_id: str  # 32 lowercase hex: keyed hash of the MAC
    first_ns: int
    last_ns: int
    peak_ns: int
    peak_rssi: int
    count: int  # type: ignore[assignment]  # (a field: it hides tuple.count)
    radio: RadioKind
    address_kind: AddressKind
    timestamp_ns: int  # the time used for matching
    tagged: bool = False
    alias: bool = False  # the same visit under the previous epoch's id (just after a boundary)
    device_class: DeviceClass = DeviceClass.UNKNOWN
