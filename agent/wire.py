"""Domain values <-> roadside.v1 protobuf, in one place (protobuf stays at the wire edge)."""

from __future__ import annotations

from roadside.agent.model import Pass
from roadside.agent.status import AgentStatus, ClockSync, SourceState
from roadside.common.kinds import (
    ADDRESS_TO_PB,
    CLASS_TO_PB,
    RADIO_TO_PB,
    AddressKind,
    DeviceClass,
    RadioKind,
)
from roadside.proto.v1 import types_pb2

_RADIO_FROM_PB = {v: k for k, v in RADIO_TO_PB.items()}
_KIND_FROM_PB = {v: k for k, v in ADDRESS_TO_PB.items()}
_CLASS_FROM_PB = {v: k for k, v in CLASS_TO_PB.items()}
_CLOCK_TO_PB = {c: getattr(types_pb2, "CLOCK_SYNC_" + c.name) for c in ClockSync}


def pass_to_pb(p: Pass) -> types_pb2.Pass:
    return types_pb2.Pass(
        ulid=p.ulid,
        device_id=p.device_id,
        first_ns=p.first_ns,
        last_ns=p.last_ns,
        peak_ns=p.peak_ns,
        peak_rssi=p.peak_rssi,
        count=p.count,
        radio=RADIO_TO_PB[p.radio],
        address_kind=ADDRESS_TO_PB[p.address_kind],
        timestamp_ns=p.timestamp_ns,
        tagged=p.tagged,
        alias=p.alias,
        device_class=CLASS_TO_PB[p.device_class],
    )


def pass_from_pb(m: types_pb2.Pass) -> Pass:
    return Pass(
        ulid=m.ulid,
        device_id=m.device_id,
        first_ns=m.first_ns,
        last_ns=m.last_ns,
        peak_ns=m.peak_ns,
        peak_rssi=m.peak_rssi,
        count=m.count,
        radio=_RADIO_FROM_PB.get(m.radio, RadioKind.WIFI),
        address_kind=_KIND_FROM_PB.get(m.address_kind, AddressKind.UNKNOWN),
        timestamp_ns=m.timestamp_ns,
        tagged=m.tagged,
        alias=m.alias,
        device_class=_CLASS_FROM_PB.get(m.device_class, DeviceClass.UNKNOWN),
    )


def pass_to_bytes(p: Pass) -> bytes:
    """The serialized form the disk buffer stores (already hashed: no raw MAC)."""
    return pass_to_pb(p).SerializeToString()


def pass_from_bytes(data: bytes) -> Pass:
    return pass_from_pb(types_pb2.Pass.FromString(data))


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
