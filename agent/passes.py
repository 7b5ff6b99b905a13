"""Coalescing hashed sightings into passes.

A pass opens at a device's first sighting, follows its last sighting and strongest
signal, and closes after `pass_gap_s` of silence or once it is `max_pass_s` long. Time
is event time (the sightings' t_ns): `tick(now_ns)` closes idle passes, with wall-clock
time when live and the newest event time when replaying. In raw mode every sighting is
its own one-sighting pass, at most one per device per second.
"""

from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass

from roadside.agent.model import AddressKind, DeviceClass, Pass, RadioKind, TimestampChoice
from roadside.common.ulidtext import ulid_text

NS = 1_000_000_000
NO_RSSI = 0  # peak_rssi of a pass none of whose sightings carried an RSSI
RSSI_MIN, RSSI_MAX = -128, 20  # dBm a radio can plausibly report; clamped to this


def pass_ulid(detector_id: str, device_id: str, first_ns: int) -> str:
    """Deterministic: the same capture replayed twice gives the same ULIDs (etcd keys)."""
    return ulid_with(ulid_prefix(detector_id), device_id, first_ns)


def ulid_prefix(detector_id: str) -> hashlib._Hash:
    """The detector's part of its passes' ULID hash, made once (ulid_with copies it)."""
    return hashlib.sha256(b"%s|" % detector_id.encode())


def ulid_with(prefix: hashlib._Hash, device_id: str, first_ns: int) -> str:
    """pass_ulid with the detector's part of the hash made once (`prefix`)."""
    h = prefix.copy()
    h.update(b"%s|%d" % (device_id.encode(), first_ns))
    return ulid_text((first_ns // 1_000_000).to_bytes(6, "big") + h.digest()[:10])


def new_ulid(t_ns: int) -> str:
    """A random ULID at time t_ns (e.g. a batch id)."""
    return ulid_text((t_ns // 1_000_000).to_bytes(6, "big") + os.urandom(10))


# a Pass from its fields in one C call (a named tuple's own __new__ is a Python function)
_pass = tuple.__new__
NOTHING: Sequence[Pass] = ()  # what add() returns when no pass closed (no list made)


@dataclass(slots=True)
class _Open:
    """A pass being built (mutable; becomes a frozen Pass when it closes)."""

    first_ns: int
    last_ns: int
    peak_ns: int
    peak_rssi: int | None
    count: int
    radio: RadioKind
    address_kind: AddressKind
    tagged: bool
    alias: bool = False
    device_class: DeviceClass = DeviceClass.UNKNOWN


class PassBuilder:
    def __init__(
        self,
        detector_id: str,
        pass_gap_s: float = 30.0,
        max_pass_s: float = 600.0,
        timestamp: TimestampChoice = TimestampChoice.PEAK,
        raw_mode: bool = False,
    ) -> None:
        self.detector_id = detector_id
        self._gap_ns = int(pass_gap_s * NS)
        self._max_ns = int(max_pass_s * NS)
        self._matched = operator.attrgetter(f"{timestamp.value}_ns")  # an open pass's time
        self._raw = raw_mode
        self._open: dict[str, _Open] = {}
        self.is_open = self._open.__contains__  # `in`, without a Python call (per sighting)
        self._get = self._open.get
        self._raw_seen: dict[str, int] = {}  # device id -> last second emitted (raw mode)

    def __contains__(self, device_id: object) -> bool:
        """Whether `device_id` has an open pass."""
        return device_id in self._open

    def __len__(self) -> int:
        """Passes currently open."""
        return len(self._open)

    def add(
        self,
        device_id: str,
        t_ns: int,
        rssi: int | None,
        radio: RadioKind,
        address_kind: AddressKind,
        tagged: bool = False,
        alias: bool = False,
        device_class: DeviceClass = DeviceClass.UNKNOWN,
    ) -> Sequence[Pass]:
        """Account one sighting; return the passes it closed (or, in raw mode, made)."""
        if self._raw:
            second = t_ns // NS
            if self._raw_seen.get(device_id) == second:
                return NOTHING
            self._raw_seen[device_id] = second
            one = _Open(t_ns, t_ns, t_ns, rssi, 1, radio, address_kind, tagged, alias,
                        device_class)
            return [self._close(device_id, one)]

        cur = self._get(device_id)
        if cur is None or t_ns - cur.last_ns > self._gap_ns or t_ns - cur.first_ns > self._max_ns:
            self._open[device_id] = _Open(t_ns, t_ns, t_ns, rssi, 1, radio, address_kind, tagged,
                                          alias, device_class)
            return NOTHING if cur is None else [self._close(device_id, cur)]
        cur.count += 1
        if t_ns > cur.last_ns:
            cur.last_ns = t_ns
        elif t_ns < cur.first_ns:
            cur.first_ns = t_ns
        if rssi is not None and (cur.peak_rssi is None or rssi > cur.peak_rssi):
            cur.peak_rssi = rssi
            cur.peak_ns = t_ns
        if tagged:
            cur.tagged = True
        return NOTHING

    def tick(self, now_ns: int) -> list[Pass]:
        """Close the passes silent for longer than the gap, or too long, at `now_ns`."""
        if self._raw:
            floor = now_ns // NS - 1
            self._raw_seen = {d: s for d, s in self._raw_seen.items() if s >= floor}
            return []
        done = [
            d
            for d, p in self._open.items()
            if now_ns - p.last_ns > self._gap_ns or now_ns - p.first_ns > self._max_ns
        ]
        return [self._close(d, self._open.pop(d)) for d in done]

    def flush(self) -> list[Pass]:
        """Close every open pass (at shutdown or the end of a replay)."""
        out = [self._close(d, p) for d, p in self._open.items()]
        self._open.clear()
        self._raw_seen.clear()
        return out

    def _close(self, device_id: str, p: _Open) -> Pass:
        ts = self._matched(p)
        rssi = p.peak_rssi
        if rssi is None:
            rssi = NO_RSSI
        elif not RSSI_MIN <= rssi <= RSSI_MAX:
            rssi = RSSI_MIN if rssi < RSSI_MIN else RSSI_MAX
        return _pass(Pass, (  # in Pass's field order
            device_id, p.first_ns, p.last_ns, p.peak_ns, rssi,
            p.count, p.radio, p.address_kind, ts, p.tagged, p.alias, p.device_class))
