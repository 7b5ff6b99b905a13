"""Domain values <-> the buffer's rows and roadside.v1 protobuf, in one place (protobuf stays
at the wire edge)."""

from __future__ import annotations

import hashlib
import struct

from google.protobuf.message import DecodeError

from roadside.agent.model import Pass
from roadside.agent.passes import ulid_with
from roadside.agent.status import AgentStatus, ClockSync, SourceState
from roadside.common.kinds import ADDRESS_TO_PB, CLASS_TO_PB, RADIO_TO_PB
from roadside.proto.v1 import types_pb2

_CLOCK_TO_PB = {c: getattr(types_pb2, "CLOCK_SYNC_" + c.name) for c in ClockSync}


# A buffer row is one closed pass's facts, packed: the closing of passes only packs, and the
# wire's Pass (with its ULID, derived) is made when the row is sent. A version byte first;
# a row written before (a serialized roadside.v1.Pass, first byte 0x0a) is still read.
ROW_V1 = b"\x01"
_ROW = struct.Struct("<c32sqqqqbIBBBB")  # version, device id, first, last, peak, matched (ns),
_TAGGED, _ALIAS = 1, 2  # peak rssi, count, radio, address kind, device class, flags
_PB_ROW = b"\x0a"  # a serialized Pass starts with its ulid (field 1, length-delimited)


def pass_to_row(p: Pass) -> bytes:
    """The buffer's row of a closed pass (already hashed: no raw MAC). struct.error for a
    value its field cannot hold (a time outside int64)."""
    device, first, last, peak, rssi, count, radio, kind, matched, tagged, alias, cls = p
    return _ROW.pack(ROW_V1, device.encode(), first, last, peak, matched, rssi, count,
                     RADIO_TO_PB[radio], ADDRESS_TO_PB[kind], CLASS_TO_PB[cls],
                     tagged | alias << 1)


def row_to_pb(payload: bytes, ulid_prefix: hashlib._Hash) -> types_pb2.Pass:
    """A buffer row as the wire's Pass, its ULID derived with the detector's `ulid_prefix`
    (passes.ulid_prefix). ValueError when the row is not a pass."""
    if payload[:1] == _PB_ROW:
        try:
            return types_pb2.Pass.FromString(payload)
        except DecodeError as exc:
            raise ValueError(f"not a roadside.v1.Pass: {exc}") from None
    if payload[:1] != ROW_V1:
        raise ValueError(f"not a pass row (version byte {payload[:1]!r})")
    try:
        (_, device, first, last, peak, matched, rssi, count, radio, kind, device_class,
         flags) = _ROW.unpack(payload)
        device_id = device.decode("ascii")
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a pass row: {exc}") from None
    return types_pb2.Pass(
        ulid=ulid_with(ulid_prefix, device_id, first), device_id=device_id, first_ns=first,
        last_ns=last, peak_ns=peak, peak_rssi=rssi, count=count, radio=radio,
        address_kind=kind, timestamp_ns=matched, tagged=bool(flags & _TAGGED),
        alias=bool(flags & _ALIAS), device_class=device_class,
    )


def _source_to_pb(s: SourceState) -> types_pb2.SourceStatus:
    return types_pb2.SourceStatus(
        name=s.name,
        state=s.state,
        sightings_per_minute=s.sightings_per_minute,
        restarts=s.restarts,
        last_error=s.last_error,
    )


def status_to_pb(s: AgentStatus) -> types_pb2.AgentStatus:
    return types_pb2.AgentStatus(
        detector_id=s.detector_id,
        reported_ns=s.reported_ns,
        buffer_depth=s.buffer_depth,
        buffer_bytes=s.buffer_bytes,
        oldest_unsent_age_s=s.oldest_unsent_age_s,
        last_upload_ns=s.last_upload_ns,
        sources=[_source_to_pb(x) for x in s.sources],
        clock_sync=_CLOCK_TO_PB[s.clock_sync],
        disk_free_bytes=s.disk_free_bytes,
        dropped_passes=s.dropped_passes,
        agent_version=s.agent_version,
        passes_total=s.passes_total,
        quarantined_databases=s.quarantined_databases,
        tasks=[types_pb2.TaskStatus(name=x.name, state=x.state, restarts=x.restarts,
                                    last_error=x.last_error) for x in s.tasks],
        lost_passes=s.lost_passes,
        set_aside_rows=s.set_aside_rows,
        over_budget_sightings=s.over_budget_sightings,
        erased_epoch_sightings=s.erased_epoch_sightings,
        salvaged_rows=s.salvaged_rows,
    )
