"""grpc.health.v1 for central: SERVING while etcd answers without alarms, NOT_SERVING otherwise.

A named background thread polls `store.healthy()`; a failed etcd call anywhere flips the
status to NOT_SERVING at once (the store's unavailable listener). While NOT_SERVING it polls
every RECOVERY_POLL_S, so SERVING is back within a fraction of a second of etcd answering.

Detection shards (central/store/shards.py) have a service each, `roadside.shard.NAME`: a
shard down is NOT_SERVING there while the server as a whole (the control etcd) stays SERVING,
since only that shard's detectors are refused.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable

from grpc_health.v1 import health, health_pb2

from roadside.central.errors import StoreUnavailable
from roadside.central.store.etcd_store import EtcdStore

log = logging.getLogger(__name__)

SHARD_SERVICE = "roadside.shard."  # + the shard's name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
STOP_TIMEOUT_S = 5.0
RECOVERY_POLL_S = 0.2  # poll interval while NOT_SERVING


class HealthMonitor:
    """Owns the HealthServicer that every central server registers, and the poll thread."""

    def __init__(self, store: EtcdStore, services: Iterable[str], poll_s: float) -> None:
        self.store = store
        self.services = ("", *services)  # "" = the server as a whole
        self.poll_s = poll_s
        self.servicer = health.HealthServicer()
        self._serving: bool | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._shards: dict[str, bool] = {}
        store.unavailable_listeners.append(self._on_unavailable)
        for name in store.shards.clients:
            store.detection_store(name).unavailable_listeners.append(
                functools.partial(self._on_shard_unavailable, name))

    def shards(self) -> dict[str, bool]:
        """Each detection shard: up (answering without alarms) or not."""
        with self._lock:
            return dict(self._shards)

    @property
    def serving(self) -> bool:
        return bool(self._serving)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._poll()
        self._thread = threading.Thread(target=self._run, name="central-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Report NOT_SERVING to watchers (shutting down) and end the thread; safe twice."""
        thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
            self.servicer.enter_graceful_shutdown()

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self._serving and all(self.shards().values())
            self._wake.wait(self.poll_s if ok else min(self.poll_s, RECOVERY_POLL_S))
            self._wake.clear()
            if self._stop.is_set():
                return
            self._poll()

    def _poll(self) -> None:
        self._set(self.store.healthy())
        for name, up in self.store.shard_health().items():
            self._set_shard(name, up)

    def _set_shard(self, name: str, up: bool) -> None:
        with self._lock:
            if self._shards.get(name) == up:
                return
            self._shards[name] = up
            self.servicer.set(SHARD_SERVICE + name, SERVING if up else NOT_SERVING)
        if up:
            log.info("detection shard %s reachable", name)
        else:
            log.warning("detection shard %s unreachable or out of space: its detectors' "
                        "uploads and reads are refused", name)
            self._wake.set()

    def _on_shard_unavailable(self, name: str, _error: StoreUnavailable) -> None:
        self._set_shard(name, False)

    def _on_unavailable(self, error: StoreUnavailable) -> None:
        self._set(False)
        self._wake.set()  # poll again soon rather than a whole period later

    def _set(self, serving: bool) -> None:
        with self._lock:
            if serving == self._serving:
                return
            self._serving = serving
            for name in self.services:
                self.servicer.set(name, SERVING if serving else NOT_SERVING)
        if serving:
            log.info("etcd reachable: health SERVING")
        else:
            log.warning("etcd unreachable or out of space: health NOT_SERVING")
