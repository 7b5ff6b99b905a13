"""Stored passes for the query tests: made here, written with the real EtcdStore."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from roadside.central.api import wire
from roadside.central.store.records import StoredPass
from roadside.proto.v1 import types_pb2
from tests.central import helpers
from tests.central.helpers import S

DEADLINE_S = 10.0  # every call in these tests
# a bucket edge a day ago: inside any retention, clear of the clock-skew limit
BASE_NS = (time.time_ns() // (100 * S)) * 100 * S - 86_400 * S


def make_pass(detector_id: str, t_ns: int, device_id: str | None = None) -> StoredPass:
    """A stored pass (as ingest stores it) at t_ns; a random device id unless given."""
    device = int(device_id, 16) if device_id else int.from_bytes(os.urandom(16), "big")
    pb = helpers.make_pass(
        t_ns, device=device, peak_rssi=-61,
        address_kind=types_pb2.ADDRESS_KIND_BLE_RANDOM_STATIC,
    )
    return wire.pass_to_record(detector_id, pb)


def refused(call: Callable[..., Any], request: Any, code: grpc.StatusCode, text: str) -> None:
    """The call fails with `code` and details containing `text`."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=DEADLINE_S)
    assert info.value.code() == code
    assert text in info.value.details()
