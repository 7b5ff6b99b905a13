"""The agent at run time: sources -> pipeline -> buffer -> uplink, plus status and watchdog.

    runner = AgentRunner(config, sources)
    await runner.run(stop)                               # live: until `stop` is set
    await runner.run(until_drained=True, drain_timeout_s=60)   # finite sources (replay,
                                                         # simulator): until all are acked

Live, sources run under the Supervisor (restarts, silence watchdog) and idle passes are
closed by wall-clock time; with `event_time=True` (replay) they close by the newest event
time. On stop: sources stop, open passes close, everything goes to the buffer, a final
upload runs with a deadline, the buffer closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc.aio

from roadside.agent import __version__, metrics, sdnotify
from roadside.agent.buffer import DiskBuffer, DiskBufferError
from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.model import Sighting
from roadside.agent.pipeline import Pipeline
from roadside.agent.privacy import KEYS_FILE, DeviceHasher, load_secret
from roadside.agent.sources.base import Source, SourceError
from roadside.agent.sources.supervisor import RateMeter, Supervisor, source_rate, uses_event_time
from roadside.agent.status import AgentStatus, SourceState, clock_sync, disk_free, write_status
from roadside.agent.tasks import Beat, TaskSupervisor, finish
from roadside.agent.uplink import Uplink, UplinkCounts
from roadside.common.files import private_dir, write_atomic
from roadside.common.ids import DETECTOR_ID_PATTERN, valid_detector_id, valid_endpoint
from roadside.common.metrics import MetricsServer

log = logging.getLogger(__name__)

BUFFER_FILE = "buffer.db"
TICK_S = 1.0  # close idle passes and write closed ones to the buffer this often
STATUS_FILE_INTERVAL_S = 5.0  # status.json for `roadside agent status`
SOURCE_STOP_TIMEOUT_S = 5.0
FINAL_UPLOAD_S = 10.0  # the last upload attempt on shutdown
TICK_STALL_S = 60.0  # the tick task not beating this long makes the agent unhealthy
STATUS_STALL_S = 120.0
FLUSH_RETRY_S = 2.0  # a finite run retries writing its last passes this often (disk full)
RENEW_CHECK_S = 600.0  # how often the agent asks whether its certificate is due
NS = 1_000_000_000


class DrainTimeout(AgentError):
    """Finite sources finished but not every pass was acknowledged in time."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Figures a replay or simulation can show while it runs."""

    sightings: int
    dropped_by_policy: int
    passes: int  # closed passes written to the buffer
    open_passes: int
    backlog: int  # passes not yet acknowledged by central (buffer + not yet written)
    acknowledged: int
    buffer_dropped: int
    by_source: tuple[tuple[str, int], ...]


def check_config(config: AgentConfig) -> None:
    """Refuse settings the agent cannot run with, naming the setting."""
    if not config.detector_id:
        raise AgentError("detector_id is not set (config file, ROADSIDE_DETECTOR_ID or "
                         "--detector-id)")
    if not valid_detector_id(config.detector_id):  # central would refuse every pass
        raise AgentError(f"detector_id: {config.detector_id!r} is not a detector id "
                         f"({DETECTOR_ID_PATTERN}: lower case, digits, '-' and '_')")
    positive = ("pass_gap_s", "max_pass_s", "buffer_max_bytes", "batch_max_passes",
                "batch_max_bytes", "upload_timeout_s", "backoff_initial_s", "backoff_max_s",
                "status_interval_s", "epoch_hours")
    for name in positive:
        value = getattr(config, name)
        if not value > 0:
            raise AgentError(f"{name}: must be above 0, got {value}")
    if config.serial_baud < 0:
        raise AgentError(f"serial_baud: must be 0 (the profile's) or above, got "
                         f"{config.serial_baud}")
    if not config.central:
        raise AgentError("central: at least one collector endpoint (host:port) is needed")
    for endpoint in config.central:
        if not valid_endpoint(endpoint):
            raise AgentError(f"central: {endpoint!r} is not HOST:PORT (e.g. "
                             "central.example.net:9000)")


class AgentRunner:
    def __init__(
        self,
        config: AgentConfig,
        sources: Sequence[Source],
        *,
        clock: Callable[[], int] = time.time_ns,
        event_time: bool = False,
        secret: bytes | None = None,
    ) -> None:
        check_config(config)
        self.config = config
        self.sources = tuple(sources)
        self._clock = clock
        self._event_time = event_time
        hasher = self._hasher(config, secret)
        # a replay buffers each pass once: restarted on its state dir, it sends only the rest
        self.buffer = DiskBuffer(Path(config.state_dir) / BUFFER_FILE, config.buffer_max_bytes,
                                 once=event_time)
        self.uplink = Uplink(config, self.buffer, clock=clock)
        self.pipeline = Pipeline(config, hasher, self.buffer, on_written=self.uplink.wake)
        self._supervisor: Supervisor | None = None
        self._source_states: dict[str, SourceState] = {
            s.name: SourceState(s.name, "starting") for s in self.sources
        }
        self._meters = {s.name: RateMeter(uses_event_time(s, event_time)) for s in self.sources}
        self._tasks: list[asyncio.Task[Any]] = []
        self.tasks = TaskSupervisor()
        self._status_file_error = ""  # the last reason status.json could not be written
        self.last_status: AgentStatus | None = None  # the newest snapshot (metrics read it)
        self.metrics: MetricsServer | None = None

    def _hasher(self, config: AgentConfig, secret: bytes | None) -> DeviceHasher:
        """Finite runs (replay, simulation) hash with the seed: any epoch of a capture.
        A live box keeps only its epoch keys (state_dir/epoch-keys.json, 0600): made from
        the seed on first start, ratcheted forward and the old key erased from then on."""
        if secret is not None or self._event_time:
            return DeviceHasher.from_config(
                config, secret if secret is not None else load_secret(config.secret_file))
        path = Path(config.state_dir) / KEYS_FILE
        if path.exists():
            try:
                hasher = DeviceHasher.from_state(json.loads(path.read_text()), config)
            except (OSError, ValueError) as exc:
                raise AgentError(f"{path}: cannot read the epoch keys: {exc}") from exc
        else:
            seed = DeviceHasher.from_config(config, load_secret(config.secret_file))
            hasher = seed.without_seed(self._clock())
            if _save_keys(path, hasher):
                log.warning("epoch keys made in %s; this box no longer needs the site secret "
                            "%s: remove it (a box holding it gives away every epoch's ids)",
                            path, config.secret_file)

        def save(advanced: DeviceHasher) -> None:
            _save_keys(path, advanced)

        hasher.on_advance = save
        return hasher

    # --- figures -----------------------------------------------------------------

    def progress(self) -> Progress:
        c = self.pipeline.counts()
        up = self.uplink.counts()
        return Progress(
            sightings=c.sightings,
            dropped_by_policy=c.dropped_by_policy,
            passes=c.passes,
            open_passes=c.open_passes,
            backlog=self.buffer.depth() + c.pending,
            acknowledged=up.passes_sent,
            buffer_dropped=c.buffer_dropped,
            by_source=c.by_source,
        )

    async def status(self) -> AgentStatus:
        """A snapshot of the agent's health (the blocking parts run off the loop)."""
        sources = self.source_states()
        sightings = self.pipeline.counts().sightings
        up = self.uplink.counts()
        status = await asyncio.to_thread(self._snapshot, sources, sightings, up)
        self.last_status = status
        await asyncio.to_thread(self._write_status_file, status)
        return status

    def _write_status_file(self, status: AgentStatus) -> None:
        """status.json; a full disk is logged once per cause, never stops the report."""
        try:
            write_status(Path(self.config.state_dir), status)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if why != self._status_file_error:
                log.warning("status.json not written: %s (the report to central goes on)", why)
            self._status_file_error = why
            return
        self._status_file_error = ""

    def _snapshot(
        self, sources: tuple[SourceState, ...], sightings: int, up: UplinkCounts
    ) -> AgentStatus:
        now = self._clock()
        stats = self.buffer.stats()
        oldest = stats.oldest_unsent_ns
        counts = self.pipeline.counts()
        return AgentStatus(
            detector_id=self.config.detector_id,
            reported_ns=now,
            buffer_depth=stats.depth,
            buffer_bytes=stats.bytes,
            oldest_unsent_age_s=0.0 if oldest is None else max(0.0, (now - oldest) / NS),
            last_upload_ns=up.last_success_ns,
            sources=sources,
            clock_sync=clock_sync(),
            disk_free_bytes=disk_free(Path(self.config.state_dir)),
            dropped_passes=stats.dropped,
            agent_version=__version__,
            passes_total=stats.appended,
            quarantined_databases=stats.quarantined,
            sightings_total=sightings,
            upload_failures=up.failures,
            endpoint=up.endpoint,
            tasks=self.tasks.states(),
            lost_passes=counts.lost,
            set_aside_rows=stats.set_aside,
            over_budget_sightings=counts.over_budget,
            erased_epoch_sightings=counts.erased_epoch,
            salvaged_rows=stats.salvaged,
        )

    def source_states(self) -> tuple[SourceState, ...]:
        """Each source's state, restarts, last error and sightings per minute."""
        if self._supervisor is not None:
            return tuple(self._supervisor.status())  # it measures its own rates
        return tuple(
            dataclasses.replace(
                s, sightings_per_minute=source_rate(s.state, self._meters[s.name])
            )
            for s in self._source_states.values()
        )

    # --- running -----------------------------------------------------------------

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        until_drained: bool = False,
        drain_timeout_s: float = 60.0,
    ) -> None:
        """Run until `stop` is set, or (until_drained) until the sources have finished
        and central has acknowledged every pass. Raises DrainTimeout if it has not
        after `drain_timeout_s`."""
        stop = stop or asyncio.Event()
        sources_stop = asyncio.Event()
        uplink_stop = asyncio.Event()
        try:
            await asyncio.to_thread(self.buffer.open)
        except DiskBufferError as exc:  # a full disk: run degraded, passes wait in RAM
            log.warning("%s; passes wait in RAM until it can be opened", exc)
        self._serve_metrics()
        try:
            sources = self._spawn(self._run_sources(sources_stop, until_drained), "sources")
            uplink_stall = (self.config.backoff_max_s + self.config.upload_timeout_s
                            + self.config.status_interval_s + TICK_STALL_S)
            self.tasks.add("uplink", lambda beat: self.uplink.run(uplink_stop, beat),
                           stall_s=uplink_stall, stop=uplink_stop)
            self.tasks.add("tick", self._tick_loop, stall_s=TICK_STALL_S)
            self.tasks.add("status", self._status_loop, stall_s=STATUS_STALL_S)
            if self.config.tls_cert_file is not None:
                self.tasks.add("renew", self._renew_loop)
            self._spawn(self._watchdog_loop(), "watchdog")
            sdnotify.ready()
            log.info("agent %s running: %d sources, central %s", self.config.detector_id,
                     len(self.sources), ",".join(self.config.central))
            await _first(stop, sources if until_drained else None)
            sdnotify.stopping()
            sources_stop.set()
            await finish(sources, SOURCE_STOP_TIMEOUT_S)
            self.pipeline.close_all()
            await self._final_flush(stop if until_drained else None)
            uplink_stop.set()
            await self.tasks.finish("uplink", self.config.upload_timeout_s + 1.0)
            budget = drain_timeout_s if until_drained else FINAL_UPLOAD_S
            drained = await self.uplink.drain(budget)
            if not drained:
                left = self.buffer.depth()
                if until_drained and self.uplink.refused:
                    raise DrainTimeout(f"central refused this detector's uploads "
                                       f"({self.uplink.refused}); {left} passes not sent")
                if until_drained:
                    why = self.uplink.counts().last_error
                    raise DrainTimeout(f"{left} passes not acknowledged after {budget:g} s"
                                       + (f"; the last upload error: {why}" if why else ""))
                log.warning("stopping with %d passes still in the buffer", left)
            if until_drained:  # a finite run (replay, simulation): its final figures to central
                with contextlib.suppress(OSError, AgentError):
                    await self.uplink.report_status(await self.status())
        finally:
            await self.tasks.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            await self.uplink.close()
            with contextlib.suppress(OSError, AgentError):
                await self.status()  # the final figures in status.json
            await asyncio.to_thread(self.buffer.close)
            if self.metrics is not None:
                self.metrics.stop()
                self.metrics = None
            log.info("agent %s stopped", self.config.detector_id)

    def _serve_metrics(self) -> None:
        """Prometheus metrics on metrics_host:metrics_port; a port in use is only logged:
        it must not keep a box from detecting."""
        config = self.config
        if not config.metrics:
            return
        reg = metrics.registry(lambda: self.last_status, self.pipeline.counts)
        try:
            self.metrics = MetricsServer(reg, config.metrics_host, config.metrics_port)
        except OSError as exc:
            log.warning("no metrics: %s:%d: %s (setting metrics_port)", config.metrics_host,
                        config.metrics_port, exc.strerror or exc)
            return
        log.info("metrics on http://%s:%d/metrics", config.metrics_host, self.metrics.port)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"agent:{name}")
        self._tasks.append(task)
        return task

    async def _run_sources(self, stop: asyncio.Event, finite: bool) -> None:
        if not finite:  # live: restarts with backoff, silence watchdog
            self._supervisor = Supervisor(
                self.sources, self.pipeline.on_sighting, self.config.silence_restart_s
            )
            await self._supervisor.run(stop)
            return
        # finite (replay, simulation): each source once; a failure is final
        await asyncio.gather(*(self._run_one(s, stop) for s in self.sources))

    async def _run_one(self, source: Source, stop: asyncio.Event) -> None:
        """A finite source on its own."""
        self._source_states[source.name] = SourceState(source.name, "running")
        meter = self._meters[source.name]

        def emit(sighting: Sighting) -> None:
            meter.heard(sighting)
            self.pipeline.on_sighting(sighting)

        try:
            await source.run(emit, stop)
        except asyncio.CancelledError:
            self._source_states[source.name] = SourceState(source.name, "stopped")
            raise
        except (SourceError, OSError) as exc:  # one failing source must not stop the others
            log.error("source %s failed: %s", source.name, exc)
            self._source_states[source.name] = SourceState(
                source.name, "failed", last_error=str(exc)
            )
            return
        self._source_states[source.name] = SourceState(source.name, "finished")

    async def _final_flush(self, stop: asyncio.Event | None) -> None:
        """Write the last passes to the buffer. A finite run (replay) waits for the disk
        (retrying, until `stop`); a live agent stopping tries once (they stay counted as
        lost in RAM otherwise)."""
        while True:
            try:
                await self.pipeline.flush()
                return
            except AgentError as exc:
                if stop is None:
                    log.error("stopping: passes not written to the buffer: %s", exc)
                    return
                log.warning("passes wait in RAM: %s; retrying in %g s", exc, FLUSH_RETRY_S)
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_RETRY_S)  # a retry period

    async def _tick_loop(self, beat: Beat) -> None:
        failing = ""
        while True:
            if self._event_time:
                self.pipeline.tick_event_time()
            else:
                now = self._clock()
                self.pipeline.tick(now)
                self.pipeline.hasher.forget_previous(now)  # the old key, from disk too
            try:
                await self.pipeline.flush()
            except AgentError as exc:  # disk full: passes wait in RAM within their bound
                if str(exc) != failing:
                    log.error("cannot write passes to the buffer (they wait in RAM): %s", exc)
                failing = str(exc)
            else:
                if failing:
                    log.info("passes are written to the buffer again")
                failing = ""
            beat()
            await asyncio.sleep(TICK_S)  # a period, not synchronisation

    async def _status_loop(self, beat: Beat) -> None:
        next_report = 0.0
        while True:
            status = await self.status()
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + self.config.status_interval_s
                await self.uplink.report_status(status)
                sdnotify.status(
                    f"buffer {status.buffer_depth}, sightings {status.sightings_total}"
                )
            beat()
            await asyncio.sleep(min(STATUS_FILE_INTERVAL_S, self.config.status_interval_s))

    async def _renew_loop(self, beat: Beat) -> None:
        while True:
            try:
                await self.uplink.renew_certificate()
            except grpc.aio.AioRpcError as exc:  # central away: the next check tries again
                log.warning("certificate renewal failed: %s", exc.details())
            beat()
            await asyncio.sleep(RENEW_CHECK_S)  # a period

    async def _watchdog_loop(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        complained = False
        while True:
            problems = self.tasks.unhealthy()
            if not problems:
                sdnotify.watchdog()
                complained = False
            elif not complained:  # systemd restarts the agent once WatchdogSec passes
                log.error("not feeding the systemd watchdog: %s", "; ".join(problems))
                complained = True
            await asyncio.sleep(interval)  # a period


def _save_keys(path: Path, hasher: DeviceHasher) -> bool:
    """The box's epoch keys, replaced atomically (the old file, and its key, gone); False
    (logged) when they cannot be written (a full disk): the next epoch's change tries again,
    and until then the site secret must stay on the box."""
    try:
        private_dir(path.parent)
        write_atomic(path, json.dumps(hasher.state()).encode(), 0o600)
    except OSError as exc:
        log.warning("epoch keys not saved in %s (%s): keep the site secret on this box until "
                    "they are", path, exc.strerror or exc)
        return False
    return True


async def _first(stop: asyncio.Event, task: asyncio.Task[None] | None) -> None:
    """Wait for `stop`, or for `task` to finish when one is given."""
    waiter = asyncio.ensure_future(stop.wait())
    pending: set[asyncio.Future[Any]] = {waiter}
    if task is not None:
        pending.add(task)
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()

