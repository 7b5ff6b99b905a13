"""A travel-time worker inside `roadside central serve`: its own thread and event loop.

central's servers are thread-pool gRPC servers; the worker is asyncio. `WorkerThread`
runs one TravelTimeWorker on an event loop in a named thread, on the same etcd endpoints
and namespace as serve, and stops it with the server (start()/stop() safe twice).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import yaml

from roadside.central.errors import CentralError
from roadside.central.store.client import CALL_TIMEOUT_S, connect, connect_shards, tls_files
from roadside.central.store.shards import Shards
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.central.traveltime.worker import TravelTimeWorker
from roadside.common.config_layers import load

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # for the worker thread to connect and start its tasks
STOP_TIMEOUT_S = 30.0  # for the worker thread to stop its tasks and release its locks
ENV_PREFIX = "ROADSIDE_WORKER_"  # ROADSIDE_GRACE_S etc. are serve's own settings
SECTION = "worker"


def _has_section(file: Path) -> bool:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # serve's own settings loaded from it already: this does not happen
    return isinstance(data, dict) and isinstance(data.get(SECTION), dict)


def serve_worker_config(
    file: str | Path | None, namespace: str, endpoints: Sequence[str],
    etcd_tls: Sequence[Path | None] = (None, None, None), shards: Sequence[str] = (),
) -> TravelTimeConfig:
    """The worker's settings: defaults < the YAML `worker:` section < ROADSIDE_WORKER_*,
    with serve's namespace, etcd endpoints, detection shards and etcd TLS files (CA,
    certificate, key).
    Raises ConfigError naming the setting."""
    section_file = file if file is not None and _has_section(Path(file)) else None
    ca, cert, key = etcd_tls
    flags = {"namespace": namespace, "etcd_endpoints": list(endpoints),
             "detection_shards": list(shards),
             "etcd_ca_file": ca, "etcd_cert_file": cert, "etcd_key_file": key}
    return load(TravelTimeConfig, section_file, flags=flags, env_prefix=ENV_PREFIX,
                section=SECTION)


class WorkerThread:
    """One TravelTimeWorker on an event loop of its own, in thread `traveltime-worker`."""

    def __init__(self, config: TravelTimeConfig) -> None:
        self.config = config
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self.worker: TravelTimeWorker | None = None

    def start(self) -> None:
        """Connect and start the worker; raise CentralError if it cannot."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="traveltime-worker", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            self.stop()
            raise CentralError(f"travel-time worker did not start in {START_TIMEOUT_S:g} s")
        if self._error is not None:
            self.stop()
            raise CentralError(f"travel-time worker: {self._error}") from self._error

    def stop(self) -> None:
        """Stop the worker (its locks are released) and its thread; safe twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()  # before reading _loop: _main sets _loop, then reads this
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed in between: the thread is ending
                pass
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("travel-time worker thread did not stop in %g s", STOP_TIMEOUT_S)

    @property
    def published(self) -> int:
        return self.worker.published if self.worker is not None else 0

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() or logged
            if not self._started.is_set():
                self._error = exc
                self._started.set()
            else:
                log.exception("travel-time worker failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        c = self.config
        tls = tls_files(c.etcd_ca_file, c.etcd_cert_file, c.etcd_key_file)
        client = await asyncio.to_thread(connect, list(c.etcd_endpoints), CALL_TIMEOUT_S, tls)
        shards = connect_shards(c.detection_shards, CALL_TIMEOUT_S, tls)
        try:
            self.worker = TravelTimeWorker(client, self.config,
                                           shards=Shards(client, c.namespace, shards))
            async with self.worker:
                self._started.set()
                await self._stop.wait()
                log.info("travel-time worker stopping: %d windows published",
                         self.worker.published)
        finally:
            await asyncio.to_thread(client.close)
            for shard in shards.values():
                shard.close()
