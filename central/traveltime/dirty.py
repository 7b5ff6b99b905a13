"""Late data: dirty buckets written by ingest, fanned out to the destinations they affect.

Ingest marks /{ns}/dirty/{detector}/{bucket} per batch. A worker turns each marker into
one pending marker per destination whose windows read that detector, and deletes the
dirty marker in the same transaction, only if it was not rewritten meanwhile (compare on
its mod revision): a marker written during the fan-out is fanned out again.
The holder of a destination deletes its pending markers the same way once the affected
windows are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.traveltime.model import Target
from roadside.central.traveltime.store import ETCD_ERRORS, EtcdClient


def parse_dirty_key(ns: str, key: bytes) -> tuple[str, int]:
    """(detector_id, bucket) of a dirty marker; ValueError when it is not one."""
    rest = key.decode()[len(keys.dirty_prefix(ns)):]
    detector, _, bucket = rest.partition("/")
    return detector, int(bucket)


def parse_pending_key(ns: str, key: bytes) -> tuple[str, str, int]:
    """(dest, detector_id, bucket) of a pending marker; ValueError when it is not one."""
    parts = key.decode()[len(keys.pending_prefix(ns)):].split("/")
    if len(parts) != 3:
        raise ValueError(f"not a pending key: {key!r}")
    return parts[0], parts[1], int(parts[2])


def reach_s(target: Target, detector_id: str) -> int | None:
    """How far after a pass at `detector_id` the target's dest windows can use it.

    None when the target does not read that detector.
    """
    dets = target.detectors
    if detector_id not in dets:
        return None
    i = dets.index(detector_id)
    return sum(h.max_seconds for h in target.hops[i:])


def affected_dests(targets: Iterable[Target], detector_id: str) -> set[str]:
    return {t.dest for t in targets if reach_s(t, detector_id) is not None}


def affected_windows(target: Target, detector_id: str, bucket: int, window_s: int) -> list[int]:
    """Window starts of `target` that passes in this detector bucket can change."""
    reach = reach_s(target, detector_id)
    if reach is None:
        return []
    first = bucket - bucket % window_s
    end = bucket + keys.BUCKET_S + reach  # exclusive
    return list(range(first, end, window_s))


def fan_out(
    client: EtcdClient, ns: str, targets: Iterable[Target], key: bytes, mod_revision: int
) -> bool:
    """Replace one dirty marker by pending markers; False when it changed meanwhile."""
    detector, bucket = parse_dirty_key(ns, key)
    puts = [
        client.transactions.put(keys.pending_key(ns, dest, detector, bucket), str(mod_revision))
        for dest in sorted(affected_dests(targets, detector))
    ]
    try:
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == mod_revision],
            success=[*puts, client.transactions.delete(key)],
            failure=[],
        )
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd fan-out failed: {exc}") from exc
    return bool(ok)


def clear(client: EtcdClient, key: bytes, mod_revision: int) -> bool:
    """Delete a marker unless it was rewritten since `mod_revision`."""
    try:
        ok, _ = client.transaction(
            compare=[client.transactions.mod(key) == mod_revision],
            success=[client.transactions.delete(key)],
            failure=[],
        )
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd delete failed: {exc}") from exc
    return bool(ok)
