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
from roadside.central.store.archive import ArchiveError
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import CHUNK_KEYS
from roadside.central.store.ranges import ETCD_ERRORS as ETCD_ERRORS
from roadside.central.store.ranges import range_pages as range_pages
from roadside.central.store.records import ALIAS_TAIL, LinkRecord, RouteRecord
from roadside.central.store.retention import RetentionLeases
from roadside.central.store.shards import current_revision as current_revision
from roadside.central.traveltime import archive as windows_archive
from roadside.central.traveltime import windowblocks
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
    revision: int = 0, archived: bool = True,
) -> list[tuple[WindowSummary, int]]:
    """The stored windows (and their keys' mod revisions; 0 for archived ones) with
    since_s <= start < until_s (until 0: no bound), in start order: the archive's for the
    days etcd no longer holds, then etcd's over them (the hour blocks', and the per-window
    keys' of the earlier layout where no block holds the window)."""
    since_s = max(since_s, 0)
    prefix = target.windows_prefix(ns)
    found = {w.window_start_ns: (w, 0)
             for w in (_archived(client, ns, target, since_s, until_s) if archived else ())}
    old_end = target.window_key(ns, until_s) if until_s > 0 else prefix + "h"
    hours_end = (target.hour_key(ns, windowblocks.hour_of(until_s - 1) + windowblocks.HOUR_S)
                 if until_s > 0 else keys.prefix_end(prefix))
    for start, end in ((target.window_key(ns, since_s), old_end),  # blocks win: read last
                       (target.hour_key(ns, windowblocks.hour_of(since_s)), hours_end)):
        for key, value, rev in range_pages(client, start, end, revision=revision):
            found.update((w.window_start_ns, (w, rev)) for w in windows_at(key, value))
    since_ns, until_ns = since_s * keys.NS_PER_S, until_s * keys.NS_PER_S
    return [found[t] for t in sorted(found) if t >= since_ns and (not until_s or t < until_ns)]


def windows_at(key: bytes, value: bytes) -> list[WindowSummary]:
    """The windows stored under a key of either layout; none (and a warning) when it is
    unreadable."""
    try:
        return windowblocks.stored(key, value)
    except windowblocks.UNREADABLE:
        log.warning("skipping unreadable windows %s", key.decode(errors="replace"))
        return []


def archived_windows(client: EtcdClient, ns: str, target: Target, since_ns: int,
                     until_ns: int) -> Any | None:
    """The target's windows in the archive, before etcd's first day and in [since, until)
    (until 0: no bound), as an Arrow table (archive.windows_table); None when etcd holds
    the whole range or there is no archive."""
    try:
        place = windows_archive.where(client, ns)
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd read failed: {exc}") from exc
    if place is None or since_ns >= place.etcd_from_ns:
        return None
    until_ns = min(until_ns, place.etcd_from_ns) if until_ns else place.etcd_from_ns
    try:
        return windows_archive.windows_table(place.directory, target.path, since_ns, until_ns)
    except ArchiveError as exc:
        raise StoreUnavailable(f"the window archive {place.directory}: {exc}") from exc


def _archived(client: EtcdClient, ns: str, target: Target, since_s: int,
              until_s: int) -> list[WindowSummary]:
    table = archived_windows(client, ns, target, since_s * keys.NS_PER_S,
                             until_s * keys.NS_PER_S)
    return [] if table is None else windows_archive.windows_of(table)


def write_windows(
    client: EtcdClient,
    ns: str,
    items: list[tuple[Target, WindowSummary]],
    guard_key: str = "",
    guard_revision: int = 0,
    leases: RetentionLeases | None = None,
) -> bool:
    """Store windows into their hours' blocks, each hour in a transaction that holds only
    while its block is as read (and, with a guard, while that lock key is ours); a block
    written meanwhile is read again. The earlier layout's keys of the hour are replaced.

    With `leases` a block expires with the lease of its last window's end's expiry day.
    Returns False (and writes nothing more) when the guard fails: the lock was lost.
    """
    hours: dict[tuple[Target, int], list[WindowSummary]] = {}
    for target, w in items:
        hour = windowblocks.hour_of(w.window_start_ns // keys.NS_PER_S)
        hours.setdefault((target, hour), []).append(w)
    for (target, hour), windows in hours.items():
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                done = _put_hour(client, ns, target, hour, windows, guard_key, guard_revision,
                                 leases)
            except grpc.RpcError as exc:
                if leases is None or exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise StoreUnavailable(f"etcd write failed: {exc}") from exc
                log.info("a window retention lease is gone; granting a new one")
                leases.forget()
                continue
            except ETCD_ERRORS as exc:
                raise StoreUnavailable(f"etcd write failed: {exc}") from exc
            if done is None:
                continue  # the block changed since it was read: again
            if not done:
                return False
            break
        else:
            raise StoreUnavailable(f"windows of {target.label()}: the hour {hour} kept "
                                   f"changing while written ({WRITE_ATTEMPTS} attempts)")
    return True


WRITE_ATTEMPTS = 5


def _put_hour(client: EtcdClient, ns: str, target: Target, hour: int,
              windows: list[WindowSummary], guard_key: str, guard_revision: int,
              leases: RetentionLeases | None) -> bool | None:
    """True when written, False when the guard failed, None when the block changed."""
    key = target.hour_key(ns, hour)
    value, meta = client.get(key)
    old = [w for k, v, _rev in range_pages(client, target.window_key(ns, hour),
                                           target.window_key(ns, hour + windowblocks.HOUR_S))
           for w in windows_at(k, v)]  # the earlier layout's windows of the hour
    if value is not None:
        old = windowblocks.merged(old, windows_at(key.encode(), value))
    block = windowblocks.merged(old, windows)
    tx = client.transactions
    compare = [tx.mod(key) == meta.mod_revision if value is not None else tx.version(key) == 0]
    if guard_key:
        compare.append(tx.create(guard_key) == guard_revision)
    end_ns = max(w.window_end_ns for w in block)
    ops = [tx.delete(target.window_key(ns, hour),
                     range_end=target.window_key(ns, hour + windowblocks.HOUR_S)),
           tx.put(key, windowblocks.encode(target, hour, block),
                  lease=leases.lease_for(end_ns) if leases else None)]
    ok, _ = client.transaction(compare=compare, success=ops, failure=[])
    if ok:
        return True
    if guard_key:
        lock, lock_meta = client.get(guard_key)
        if lock is None or lock_meta.create_revision != guard_revision:
            return False
    return None


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
