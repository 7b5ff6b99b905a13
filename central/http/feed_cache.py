"""The travel-time feed's entries, kept between requests and made again only where something
changed: a target whose windows or live figure were written since (etcd's min_mod_revision:
one keys-only range read per request tells which), every target when links, routes or normal
profiles changed, and any entry older than MAX_AGE_S (its last hour slides on, a lease may
have removed a figure). Whole bodies are kept above it (feed_bodies.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.traveltime import store
from roadside.central.traveltime.model import Target
from roadside.common.timeparse import format_utc

MAX_AGE_S = 10.0

Make = Callable[[list[Target], int, int], list[dict[str, Any]]]  # (targets, now, recent_s)


class FeedCache:
    def __init__(self, client: store.EtcdClient, ns: str, make: Make) -> None:
        self._client = client
        self._ns = ns
        self._make = make
        self._lock = threading.Lock()
        self._revision = 0  # changes up to it are in the entries
        self._generation = 0  # bumped whenever a change in etcd dropped entries
        self._entries: dict[tuple[str, int], tuple[Target, dict[str, Any], float]] = {}

    def entries(self, targets: list[Target], now_ns: int, recent_s: int) -> list[dict[str, Any]]:
        """Each target's entry, made again where it may have changed."""
        with self._lock:
            self._forget_changed()
            mono = time.monotonic()
            stale = [t for t in targets
                     if (found := self._entries.get((t.path, recent_s))) is None
                     or found[0] != t or mono - found[2] > MAX_AGE_S]
            built = format_utc(time.time_ns())  # when its figures were read: an answer's
            # body (and so its ETag) changes only with them
            for target, entry in zip(stale, self._make(stale, now_ns, recent_s), strict=True):
                self._entries[(target.path, recent_s)] = (target, {**entry, "updated": built},
                                                          mono)
            return [self._entries[(t.path, recent_s)][1] for t in targets]

    def generation(self) -> int:
        """A number that changes when something the entries (or the feeds' maps: detectors'
        places) show changed in etcd."""
        with self._lock:
            self._forget_changed()
            return self._generation

    def _forget_changed(self) -> None:
        """Drop the entries of targets written since the last look (all of them when
        links, routes or profiles changed)."""
        ns, since = self._ns, self._revision + 1
        changed: set[str] = set()
        try:
            for prefix, windows in ((keys.windows_prefix(ns), True), (keys.live_prefix(ns), False)):
                resp = self._client.get_range_response(
                    prefix, keys.prefix_end(prefix), keys_only=True, min_mod_revision=since)
                revision = resp.header.revision
                for kv in resp.kvs:
                    path = kv.key.decode()[len(prefix):]  # a window's key: the path, its start
                    changed.add(path.rsplit("/", 1)[0] if windows else path)
            structure, placed = (any(  # (etcd filters by revision before it applies the limit)
                self._client.get_range_response(p, keys.prefix_end(p), keys_only=True, limit=1,
                                                min_mod_revision=since).kvs
                for p in prefixes) for prefixes in (
                    (keys.links_prefix(ns), keys.routes_prefix(ns), keys.profile_key(ns, "")),
                    (keys.registry_prefix(ns),)))  # (places: the feeds' maps, not entries)
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd read failed: {exc}") from exc
        if structure or changed or placed:
            self._generation += 1
        if structure:
            self._entries.clear()
        else:
            self._entries = {k: v for k, v in self._entries.items() if k[0] not in changed}
        self._revision = revision
