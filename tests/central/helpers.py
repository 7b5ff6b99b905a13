"""Making passes and batches for central's tests."""

from __future__ import annotations

import time

from ulid import ULID

from roadside.proto.v1 import collector_pb2, types_pb2

S = 1_000_000_000


def make_pass(t_ns: int | None = None, device: int = 1, **fields: object) -> types_pb2.Pass:
    """A valid pass at t_ns (default: now), device id from the integer `device`."""
    t = time.time_ns() if t_ns is None else t_ns
    values: dict[str, object] = {
        "ulid": str(ULID.from_timestamp(t / S)),
        "device_id": f"{device:032x}",
        "first_ns": t - 2 * S,
        "peak_ns": t,
        "last_ns": t + S // 2,
        "timestamp_ns": t,
        "peak_rssi": -67,
        "count": 4,
        "radio": types_pb2.RADIO_KIND_BLE,
        "address_kind": types_pb2.ADDRESS_KIND_BLE_PUBLIC,
    }
    values.update(fields)
    return types_pb2.Pass(**values)  # type: ignore[arg-type]


def make_batch(
    detector_id: str, passes: list[types_pb2.Pass]
) -> collector_pb2.UploadBatchRequest:
    return collector_pb2.UploadBatchRequest(
        detector_id=detector_id, batch_id=str(ULID()), passes=passes
    )
