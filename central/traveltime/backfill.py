"""Windows older than the worker's regular reach, over everything still retained.

A link or route added after its data arrived, or a worker that starts after time away,
has windows the regular schedule (the last `backfill_s`) never reaches. The worker plans
them once per target: from the destination's oldest stored pass (or the retention
horizon) up to where the schedule begins, leaving out windows already stored. It then
computes them a chunk per turn, newest first, and keeps its progress in etcd (on a short
lease, so a dead worker's progress expires) for `links list`, `routes list` and the
travel-time query's hint.

Rules: each target's windows were computed under its rules (limits, filters, hops), whose
digest is kept beside them (keys.rules_key). When a link or route is set with other rules,
the worker recomputes every retained window of it, newest first, the same way (and with the
same progress), and records the new digest when done. A target without a digest (new, or
from before digests) takes its current rules as those of its windows.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.store.shards import Shards
from roadside.central.traveltime import windowblocks
from roadside.central.traveltime.model import Target
from roadside.central.traveltime.store import ETCD_ERRORS, EtcdClient, range_pages

log = logging.getLogger(__name__)

CHUNK_WINDOWS = 288  # windows per worker turn (a day of 5-minute windows)
PROGRESS_TTL_S = 600  # a progress record outlives its worker by at most this


@dataclass(slots=True)
class Backfill:
    """The windows of one target still to compute, newest first."""

    target: Target
    left: list[int]
    total: int
    lock_rev: int = 0  # the destination lock it was planned under
    recompute: bool = False  # every window again (its rules changed), not the missing only

    def take(self) -> list[int]:
        chunk, self.left = self.left[:CHUNK_WINDOWS], self.left[CHUNK_WINDOWS:]
        return chunk


@dataclass(frozen=True, slots=True)
class Progress:
    windows_left: int
    windows_total: int
    oldest_window_s: int
    worker: str
    updated_ns: int

    def to_json(self) -> bytes:
        return json.dumps({
            "windows_left": self.windows_left, "windows_total": self.windows_total,
            "oldest_window_s": self.oldest_window_s, "worker": self.worker,
            "updated_ns": self.updated_ns,
        }).encode()

    @classmethod
    def from_json(cls, value: bytes) -> Progress:
        d = json.loads(value)
        return cls(int(d["windows_left"]), int(d["windows_total"]),
                   int(d["oldest_window_s"]), str(d["worker"]), int(d["updated_ns"]))


def oldest_pass_s(client: EtcdClient, ns: str, detector_id: str) -> int | None:
    """The bucket (unix s) of the detector's oldest stored pass; None when it has none."""
    prefix = keys.detector_prefix(ns, detector_id)
    try:
        resp = client.get_range_response(prefix, keys.prefix_end(prefix), limit=1,
                                         keys_only=True)
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd read failed: {exc}") from exc
    if not resp.kvs:
        return None
    return keys.detection_bucket(ns, resp.kvs[0].key)


def stored_window_starts(client: EtcdClient, ns: str, target: Target) -> set[int]:
    """The starts (unix s) of the target's stored windows: the hour blocks' and the
    earlier layout's per-window keys."""
    prefix = target.windows_prefix(ns)
    found = set()
    for key, value, _rev in range_pages(client, prefix, keys.prefix_end(prefix)):
        tail = key.rsplit(b"/", 1)[-1]
        if tail.isdigit():
            found.add(int(tail))
        elif tail.startswith(b"h"):
            try:
                found.update(windowblocks.starts(value))
            except DecodeError:
                log.warning("skipping unreadable windows %s", key.decode(errors="replace"))
    return found


def stored_rules(client: EtcdClient, ns: str, target: Target) -> str | None:
    """The digest of the rules its windows were computed with; None when not recorded."""
    try:
        value, _meta = client.get(keys.rules_key(ns, target.path))
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd read failed: {exc}") from exc
    return None if value is None else value.decode()


def record_rules(client: EtcdClient, ns: str, target: Target) -> None:
    """Its windows now hold its current rules."""
    try:
        client.put(keys.rules_key(ns, target.path), target.rules_digest)
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd write failed: {exc}") from exc


def plan(
    client: EtcdClient, ns: str, target: Target, window_s: int, until_s: int,
    retention_s: int, now_ns: int, lock_rev: int = 0, shards: Shards | None = None,
    recompute: bool = False,
) -> Backfill:
    """The target's windows that start before `until_s`, over retained data: the missing
    ones, or every one with `recompute`."""
    on = client if shards is None else shards.client(shards.shard_of(target.dest))
    first = oldest_pass_s(on, ns, target.dest)
    if first is None or first >= until_s:
        return Backfill(target, [], 0, lock_rev, recompute)
    if retention_s > 0:
        first = max(first, now_ns // keys.NS_PER_S - retention_s)
    first = first // window_s * window_s
    stored = set() if recompute else stored_window_starts(client, ns, target)
    left = [ws for ws in range(until_s - window_s, first - 1, -window_s) if ws not in stored]
    return Backfill(target, left, len(left), lock_rev, recompute)


def write_progress(client: EtcdClient, ns: str, backfill: Backfill, worker: str) -> None:
    """Record how far the backfill is (or remove the record once it is done)."""
    key = keys.backfill_key(ns, backfill.target.path)
    try:
        if not backfill.left:
            client.delete(key)
            return
        progress = Progress(len(backfill.left), backfill.total, backfill.left[-1], worker,
                            time.time_ns())
        lease = client.lease(PROGRESS_TTL_S)
        client.put(key, progress.to_json(), lease=lease.id)
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd write failed: {exc}") from exc


def read_progress(client: EtcdClient, ns: str) -> dict[str, Progress]:
    """Every running backfill, by target path."""
    prefix = keys.backfill_prefix(ns)
    out = {}
    for key, value, _rev in range_pages(client, prefix, keys.prefix_end(prefix)):
        try:
            out[key.decode()[len(prefix):]] = Progress.from_json(value)
        except (ValueError, KeyError, TypeError):
            continue
    return out
