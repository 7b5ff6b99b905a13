"""Stored passes for the query tests: made here, written with the real EtcdStore."""

from __future__ import annotations

import os
import time

from ulid import ULID

from central.records import StoredPass

S = 1_000_000_000
# a bucket edge a day ago: inside any retention, clear of the clock-skew limit
BASE_NS = (time.time_ns() // (100 * S)) * 100 * S - 86_400 * S


def make_pass(detector_id: str, t_ns: int, device_id: str | None = None) -> StoredPass:
    ulid = str(ULID.from_timestamp(t_ns / 1e9))
    return StoredPass(
        detector_id=detector_id,
        ulid=ulid,
        device_id=device_id or os.urandom(16).hex(),
        timestamp_ns=t_ns,
        first_ns=t_ns - 2_000_000_000,
        last_ns=t_ns + 1_000_000_000,
        peak_ns=t_ns,
        peak_rssi=-61,
        count=4,
        radio="ble",
        address_kind="ble_random_static",
        tagged=False,
    )
