"""The travel-time engine's etcd reads and writes, in the layout of central/store/keys.py."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Collection
from typing import Any, TypeAlias

import etcd3
import grpc

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys, packed
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import CHUNK_KEYS
from roadside.central.store.ranges import ETCD_ERRORS as ETCD_ERRORS
from roadside.central.store.ranges import range_pages as range_pages
from roadside.central.store.records import ALIAS_TAIL, LinkRecord, RouteRecord
from roadside.central.store.retention import RetentionLeases
from roadside.central.store.shards import current_revision as current_revision
from roadside.central.traveltime.matching import PassTuple
from roadside.central.traveltime.model import Target, WindowSummary

log = logging.getLogger(__name__)

EtcdClient: TypeAlias = etcd3.MultiEndpointEtcd3Client


def read_passes(
    client: EtcdClient, ns: str, detector_id: str, since_ns: int, until_ns: int,
    revision: int = 0, aliases: bool = True, classes: Collection[str] | None = None,
    kinds: dict[str, tuple[str, str]] | None = None,
) -> list[PassTuple]:
    """(device_id, timestamp_ns) of the detector's passes with since_ns <= t < until_ns;
    without `aliases` the alias passes (previous epoch's ids) are left out: upstream of a
    match only real ones count, so a trip across an epoch boundary is matched once. With
    `classes` only passes of those device classes ("vehicle", ...); `kinds` is filled with
    each device's (device class, address kind)."""
    if until_ns <= since_ns:
        return []
    first = keys.bucket_of(since_ns)
    last = keys.bucket_of(until_ns - 1)
    start = keys.bucket_prefix(ns, detector_id, first)
    end = keys.bucket_prefix(ns, detector_id, last + keys.BUCKET_S)
    out: list[PassTuple] = []
    seen: set[bytes] = set()  # a pass stored in two blocks (two groupings) counts once
    for key, value, _rev in range_pages(client, start, end, revision=revision,
                                        page_keys=CHUNK_KEYS):  # blocks, as event reads
        segment = key[key.rindex(b"/") + 1:]
        try:
            if segment.startswith(BLOCK_MARK):
                found = packed.device_times(value)
            else:  # a pass of the earlier per-pass layout
                ulid, _, device = segment.decode().partition(".")
                found = [(packed.pass_id(ulid, device), device, _timestamp(value),
                          value.endswith(ALIAS_END), "", "unknown")]
        except packed.UNREADABLE:
            log.warning("skipping unreadable detections %s", key.decode(errors="replace"))
            continue
        for pass_id, device, t_ns, alias, device_class, kind in found:
            if (since_ns <= t_ns < until_ns and (aliases or not alias) and pass_id not in seen
                    and (classes is None or device_class in classes)):
                seen.add(pass_id)
                out.append((device, t_ns))
                if kinds is not None:
                    kinds[device] = (device_class, kind)
    return out


BLOCK_MARK = packed.BLOCK_MARK.encode()


TIMESTAMP_HEAD = b'{"timestamp":"'  # how StoredPass.to_json starts a detection
ALIAS_END = (ALIAS_TAIL + "}").encode()  # how it ends an alias pass


def _timestamp(value: bytes) -> int:
    """The detection's timestamp: sliced out when central wrote it, else parsed as JSON."""
    if value.startswith(TIMESTAMP_HEAD):
        end = value.find(b'"', len(TIMESTAMP_HEAD))
        if end > 0:
            return int(value[len(TIMESTAMP_HEAD):end])
    return int(json.loads(value)["timestamp"])


def link_target(link: LinkRecord) -> Target:
    return Target((link,))


def route_target(
    route: RouteRecord, links: list[LinkRecord], default_max_seconds: int
) -> Target:
    """A route's hops, each with its link's limits (or the default when not linked)."""
    by_pair = {(lk.src, lk.dest): lk for lk in links}
    hops = []
    ids = route.detector_ids
    for src, dest in itertools.pairwise(ids):
        lk = by_pair.get((src, dest))
        hops.append(lk or LinkRecord(src, dest, default_max_seconds))
    return Target(tuple(hops), route=route.name)


def all_targets(client: EtcdClient, ns: str, default_max_seconds: int) -> list[Target]:
    """Every link and every route of two or more detectors."""
    central = EtcdStore(client, ns)
    links = central.links()
    targets = [link_target(lk) for lk in links]
    for route in central.routes():
        if len(route.detector_ids) >= 2:
            targets.append(route_target(route, links, default_max_seconds))
    return targets


def read_windows(
    client: EtcdClient, ns: str, target: Target, since_s: int = 0, until_s: int = 0,
    revision: int = 0,
) -> list[tuple[WindowSummary, int]]:
    """The stored windows (and their mod revisions) with since_s <= start < until_s."""
    prefix = target.windows_prefix(ns)
    start = target.window_key(ns, max(since_s, 0))
    end = target.window_key(ns, until_s) if until_s > 0 else keys.prefix_end(prefix)
    out = []
    for key, value, rev in range_pages(client, start, end, revision=revision):
        try:
            out.append((WindowSummary.from_json(value), rev))
        except (ValueError, KeyError, TypeError):
            log.warning("skipping unreadable window %s", key.decode(errors="replace"))
    return out


def write_windows(
    client: EtcdClient,
    ns: str,
    items: list[tuple[Target, WindowSummary]],
    guard_key: str = "",
    guard_revision: int = 0,
    leases: RetentionLeases | None = None,
) -> bool:
    """Store windows in transactions; with a guard, only while that lock key is ours.

    With `leases` each window expires with the lease of its end's expiry day.
    Returns False (and writes nothing more) when the guard fails: the lock was lost.
    """
    compare = []
    if guard_key:
        compare.append(client.transactions.create(guard_key) == guard_revision)
    step = 100  # well under etcd's 128 operations per transaction
    for i in range(0, len(items), step):
        batch = items[i:i + step]
        try:
            ok = _put_windows(client, ns, batch, compare, leases)
        except grpc.RpcError as exc:
            if leases is None or exc.code() != grpc.StatusCode.NOT_FOUND:
                raise StoreUnavailable(f"etcd write failed: {exc}") from exc
            log.info("a window retention lease is gone; granting a new one")
            leases.forget()
            try:
                ok = _put_windows(client, ns, batch, compare, leases)
            except ETCD_ERRORS as again:
                raise StoreUnavailable(f"etcd write failed: {again}") from again
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd write failed: {exc}") from exc
        if not ok:
            return False
    return True


def write_live(client: EtcdClient, ns: str, items: list[tuple[Target, WindowSummary]],
               guard_key: str, guard_revision: int, lease_id: int) -> bool:
    """Store live figures (one key per target, replaced each time) on a short lease, while
    the guard lock is ours; False when it is not."""
    try:
        ops = [client.transactions.put(keys.live_key(ns, t.path), w.to_json(), lease=lease_id)
               for t, w in items]
        ok, _ = client.transaction(
            compare=[client.transactions.create(guard_key) == guard_revision],
            success=ops, failure=[])
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd write failed: {exc}") from exc
    return bool(ok)


def read_live(client: EtcdClient, ns: str, target: Target) -> WindowSummary | None:
    """The target's live figure; None when there is none (no worker, or none yet)."""
    try:
        value, _meta = client.get(keys.live_key(ns, target.path))
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd read failed: {exc}") from exc
    if value is None:
        return None
    try:
        return WindowSummary.from_json(value)
    except (ValueError, KeyError, TypeError):
        log.warning("skipping an unreadable live figure of %s", target.label())
        return None


def _put_windows(
    client: EtcdClient, ns: str, batch: list[tuple[Target, WindowSummary]],
    compare: list[Any], leases: RetentionLeases | None,
) -> bool:
    ops = [
        client.transactions.put(
            t.window_key(ns, w.window_start_ns // keys.NS_PER_S), w.to_json(),
            lease=leases.lease_for(w.window_end_ns) if leases else None,
        )
        for t, w in batch
    ]
    ok, _ = client.transaction(compare=compare, success=ops, failure=[])
    return bool(ok)
