"""Background rounds in central (the archiver, the compactor): a thread that does its work
every so often, one central of several at a time, under a lease lock in the namespace (an
etcd user limited to the namespace may take it; a central that dies holding it frees it
when its lease ends)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import etcd3
import grpc

from roadside.central.errors import StoreUnavailable
from roadside.central.store.archive import ArchiveError
from roadside.central.store.etcd_store import EtcdStore

log = logging.getLogger(__name__)

FAILURES = (ArchiveError, StoreUnavailable, etcd3.exceptions.Etcd3Exception, grpc.RpcError)


class Rounds:
    """Calls `work` every `every_s` (first at start with `at_start`) while holding the lock
    `lock_key`; a failed round is logged and tried again next time."""

    def __init__(self, store: EtcdStore, name: str, lock_key: str, lock_ttl_s: int,
                 every_s: float, at_start: bool = True) -> None:
        self._store = store
        self._name = name
        self._lock_key = lock_key
        self._lock_ttl_s = lock_ttl_s
        self._every_s = every_s
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def work(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        if not self._at_start and self._stop.wait(self._every_s):
            return
        while True:
            try:
                self.locked_round()
            except FAILURES as exc:
                log.warning("%s: %s; trying again in %g s", self._name, exc, self._every_s)
            if self._stop.wait(self._every_s):
                return

    def locked_round(self, default: Callable[[], object] = lambda: None) -> object:
        """One round of `work` if no other central is at it (else `default()`)."""
        client = self._store.client
        lease = client.lease(self._lock_ttl_s)
        try:
            tx = client.transactions
            taken, _ = client.transaction(
                compare=[tx.create(self._lock_key) == 0],
                success=[tx.put(self._lock_key, str(os.getpid()), lease=lease)], failure=[])
            return self.work() if taken else default()
        finally:
            lease.revoke()
