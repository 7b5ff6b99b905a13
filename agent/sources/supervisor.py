"""Runs the sources: one named task each, restarts with capped backoff, a silence watchdog.

A source that raises (SourceError or anything unexpected) is logged and restarted after a
backoff that doubles up to a cap and resets once the source hears something again. A source
silent for longer than its limit is stopped and restarted (the watchdog): `silence_limit_s`
on the source overrides the supervisor's default, None turns the watchdog off for it. A
source whose `run` returns on its own (a replay at its end) is finished, not restarted.

Sightings per minute count the last minute: of wall time for a live source, of the source's
own time for one with `event_time = True` (a replay: its capture's time, so a replay at full
speed shows the capture's rate, not millions a minute). A finished source reports 0.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roadside.agent.model import Sighting
from roadside.agent.sources.base import Emit, Source, SourceError, stopped_within
from roadside.agent.status import SourceState

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # a stopped source gets this long to return before it is cancelled
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
RATE_WINDOW_S = 60  # sightings_per_minute counts the last minute
NS = 1_000_000_000

STARTING, RUNNING, RESTARTING, FINISHED, STOPPED = (
    "starting", "running", "restarting", "finished", "stopped",
)


class RateMeter:
    """Sightings per minute over the last RATE_WINDOW_S seconds of one clock.

    Live sources count by the monotonic clock at arrival, up to now; event-time sources
    (replay) by the sightings' own times, up to the newest one heard.
    """

    __slots__ = ("_clock", "_newest", "_seconds", "event_time")

    def __init__(self, event_time: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.event_time = event_time
        self._clock = clock
        self._seconds: deque[list[int]] = deque()  # [second, count], oldest first
        self._newest = 0

    def heard(self, sighting: Sighting) -> None:
        sec = sighting.t_ns // NS if self.event_time else int(self._clock())
        self._newest = max(self._newest, sec)
        if self._seconds and self._seconds[-1][0] >= sec:
            self._seconds[-1][1] += 1  # same second (or a late one): count it there
            return
        self._seconds.append([sec, 1])
        while self._seconds[0][0] <= sec - RATE_WINDOW_S:
            self._seconds.popleft()

    def per_minute(self) -> float:
        now = self._newest if self.event_time else int(self._clock())
        cutoff = now - RATE_WINDOW_S
        per_window = sum(n for sec, n in self._seconds if sec > cutoff)
        return per_window * 60.0 / RATE_WINDOW_S


def source_rate(state: str, meter: RateMeter) -> float:
    """What status shows as sightings per minute: 0 once the source has finished."""
    return 0.0 if state == FINISHED else meter.per_minute()


def uses_event_time(source: Source, default: bool = False) -> bool:
    """Whether the source's sightings carry their own time (replay, simulation)."""
    return bool(getattr(source, "event_time", default))


@dataclass(slots=True)
class _Health:
    """Mutable per-source bookkeeping; status() hands out frozen SourceState copies."""

    name: str
    meter: RateMeter
    state: str = STARTING
    restarts: int = 0
    last_error: str = ""
    last_heard: float = 0.0  # monotonic
    failures: int = 0  # consecutive, for the backoff

    def heard(self, sighting: Sighting, now: float) -> None:
        self.last_heard = now
        self.failures = 0
        self.meter.heard(sighting)


class Supervisor:
    def __init__(
        self,
        sources: Sequence[Source],
        emit: Emit,
        silence_restart_s: float | None = 300.0,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique: {names}")
        self._sources = list(sources)
        self._emit = emit
        self._silence_s = silence_restart_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._health = {s.name: _Health(s.name, RateMeter(uses_event_time(s))) for s in sources}

    def status(self) -> list[SourceState]:
        return [
            SourceState(h.name, h.state, source_rate(h.state, h.meter), h.restarts,
                        h.last_error)
            for h in self._health.values()
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Run every source until `stop` is set (or all have finished)."""
        async with asyncio.TaskGroup() as group:
            for source in self._sources:
                group.create_task(self._keep_running(source, stop), name=f"source-{source.name}")

    def _limit(self, source: Source) -> float | None:
        limit: float | None = getattr(source, "silence_limit_s", self._silence_s)
        return limit

    async def _keep_running(self, source: Source, stop: asyncio.Event) -> None:
        health = self._health[source.name]
        while not stop.is_set():
            outcome = await self._run_once(source, health, stop)
            if outcome == FINISHED:
                health.state = FINISHED
                log.info("source %s finished", source.name)
                return
            if stop.is_set():
                break
            health.restarts += 1
            health.failures += 1
            health.state = RESTARTING
            delay = self._backoff(health.failures) if outcome != "silent" else 0.0
            log.warning(
                "source %s restarting in %.1f s (%s)", source.name, delay, health.last_error
            )
            if delay and await stopped_within(stop, delay):
                break
        health.state = STOPPED

    def _backoff(self, failures: int) -> float:
        base = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** (failures - 1))
        return base * random.uniform(0.8, 1.0)  # jitter keeps several agents apart

    async def _run_once(self, source: Source, health: _Health, stop: asyncio.Event) -> str:
        """One run of a source: returns 'finished', 'stopped', 'failed' or 'silent'."""
        mine = asyncio.Event()  # this run's stop: set on agent stop or by the watchdog
        health.state = RUNNING
        health.last_heard = time.monotonic()

        def emit(sighting: Sighting) -> None:
            health.heard(sighting, time.monotonic())
            self._emit(sighting)

        task = asyncio.create_task(source.run(emit, mine), name=f"source-{source.name}-run")
        stopper = asyncio.create_task(stop.wait(), name=f"source-{source.name}-stop")
        limit = self._limit(source)
        outcome = ""
        try:
            while not outcome:
                timeout = None
                if limit is not None:
                    timeout = max(0.0, health.last_heard + limit - time.monotonic())
                done, _ = await asyncio.wait(
                    {task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if task in done:
                    outcome = self._result(source, health, task, stop)
                elif stopper in done:
                    outcome = "stopped"
                elif limit is not None and time.monotonic() - health.last_heard >= limit:
                    health.last_error = f"silent for {limit:g} s"
                    outcome = "silent"
        finally:
            stopper.cancel()
            if not task.done():
                mine.set()
                await _finish(task, source.name)
        return outcome

    @staticmethod
    def _result(
        source: Source, health: _Health, task: asyncio.Task[None], stop: asyncio.Event
    ) -> str:
        if task.cancelled():
            health.last_error = "cancelled"
            return "failed"
        exc = task.exception()
        if exc is None:
            return "stopped" if stop.is_set() else FINISHED
        health.last_error = f"{type(exc).__name__}: {exc}"
        # what sources expect (BlueZ or a port away) is one line; the unexpected gets its
        # traceback once, not at every restart
        expected = isinstance(exc, (SourceError, OSError))
        log.warning("source %s failed: %s", source.name, health.last_error,
                    exc_info=None if expected or health.restarts else exc)
        return "failed"


async def _finish(task: asyncio.Task[None], name: str) -> None:
    """Give a source STOP_TIMEOUT_S to return after its stop event, then cancel it."""
    done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if not done:
        log.warning("source %s did not stop within %.0f s: cancelling", name, STOP_TIMEOUT_S)
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.debug("source %s ended with %r while stopping", name, task.exception())

