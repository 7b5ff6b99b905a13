"""One etcd lock per destination detector, all on one lease of the worker's.

The lease also holds the worker's presence key, so workers can count each other and take
a fair share of the destinations. A worker that dies stops refreshing; when its lease
expires etcd deletes its locks and another worker takes them.
"""

from __future__ import annotations

import hashlib
import logging
import math

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.traveltime.store import ETCD_ERRORS, EtcdClient, range_pages

log = logging.getLogger(__name__)


def live_workers(client: EtcdClient, ns: str) -> int:
    """Travel-time workers alive now (each keeps a presence key on its lease)."""
    prefix = keys.workers_prefix(ns)
    return sum(1 for _ in range_pages(client, prefix, keys.prefix_end(prefix), True))


class DestLocks:
    """Blocking calls: run them off the event loop."""

    def __init__(self, client: EtcdClient, ns: str, worker_id: str, ttl_s: int) -> None:
        self.client = client
        self.ns = ns
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.lease_id = 0
        self.held: dict[str, int] = {}  # dest -> create revision of our lock key

    def keepalive(self) -> bool:
        """Refresh the lease (or take a new one). False when the old one had expired."""
        lost = False
        try:
            if self.lease_id:
                replies = list(self.client.refresh_lease(self.lease_id))
                if replies and replies[0].TTL > 0:
                    return True
                log.warning("worker %s lost its lease; its locks are gone", self.worker_id)
                self.held = {}
                lost = True
            lease = self.client.lease(self.ttl_s)
            self.lease_id = int(lease.id)
            self.client.put(keys.worker_key(self.ns, self.worker_id), b"", lease=self.lease_id)
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd lease failed: {exc}") from exc
        return not lost

    def live_workers(self) -> int:
        return live_workers(self.client, self.ns)

    def try_acquire(self, dest: str) -> bool:
        key = keys.worker_lock_name(self.ns, dest)
        try:
            ok, _ = self.client.transaction(
                compare=[self.client.transactions.create(key) == 0],
                success=[self.client.transactions.put(key, self.worker_id, lease=self.lease_id)],
                failure=[],
            )
            if not ok:
                return False
            _value, meta = self.client.get(key)
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd lock failed: {exc}") from exc
        if meta is None:
            return False
        self.held = {**self.held, dest: int(meta.create_revision)}
        log.info("worker %s took destination %s", self.worker_id, dest)
        return True

    def release(self, dest: str) -> None:
        rev = self.held.get(dest)
        if rev is None:
            return
        self.held = {d: r for d, r in self.held.items() if d != dest}
        key = keys.worker_lock_name(self.ns, dest)
        try:
            self.client.transaction(
                compare=[self.client.transactions.create(key) == rev],
                success=[self.client.transactions.delete(key)],
                failure=[],
            )
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd unlock failed: {exc}") from exc
        log.info("worker %s released destination %s", self.worker_id, dest)

    def balance(self, dests: set[str]) -> bool:
        """Hold a fair share of `dests`; True when what we hold changed."""
        before = dict(self.held)
        for dest in [d for d in self.held if d not in dests]:
            self.release(dest)
        share = math.ceil(len(dests) / max(self.live_workers(), 1))
        # Each worker prefers its own order, so workers rarely race for the same lock.
        for dest in sorted(dests - self.held.keys(), key=self._preference):
            if len(self.held) >= share:
                break
            self.try_acquire(dest)
        for dest in sorted(self.held, key=self._preference)[share:]:
            self.release(dest)
        return self.held != before

    def close(self) -> None:
        """Revoke the lease: our locks and presence go at once. Safe twice."""
        lease_id, self.lease_id, self.held = self.lease_id, 0, {}
        if lease_id:
            try:
                self.client.revoke_lease(lease_id)
            except ETCD_ERRORS as exc:
                log.warning("could not revoke lease %x: %s", lease_id, exc)

    def _preference(self, dest: str) -> bytes:
        return hashlib.sha256(f"{self.worker_id}/{dest}".encode()).digest()
