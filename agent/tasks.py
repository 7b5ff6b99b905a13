"""The agent's long-lived tasks, owned and supervised.

Each task is a coroutine factory taking a `beat` callback it calls whenever it made
progress. A task that raises, or returns while the agent is not stopping, is logged at once
with its cause, counted, and started again after a capped backoff (doubling, reset once it
beats again). `healthy()` is what the systemd watchdog is fed on: every task running and,
where it has a stall limit, having beaten within it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0

Beat = Callable[[], None]
Factory = Callable[[Beat], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class TaskState:
    name: str
    state: str  # running, restarting, stopped
    restarts: int = 0
    last_error: str = ""


class _Task:
    __slots__ = ("backoff_s", "factory", "last_beat", "last_error", "name", "restarts",
                 "stall_s", "state", "stop", "task")

    def __init__(
        self, name: str, factory: Factory, stall_s: float | None, stop: asyncio.Event | None
    ) -> None:
        self.name = name
        self.stop = stop
        self.factory = factory
        self.stall_s = stall_s
        self.state = "running"
        self.restarts = 0
        self.last_error = ""
        self.last_beat = time.monotonic()
        self.backoff_s = BACKOFF_INITIAL_S
        self.task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()
        self.backoff_s = BACKOFF_INITIAL_S


async def finish(task: asyncio.Task[Any], timeout_s: float) -> None:
    """Let a task end on its own within `timeout_s`, else cancel it; log its error."""
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        await asyncio.wait({task})  # the task's CancelledError stays in the task
        return
    if not task.cancelled() and task.exception() is not None:
        log.error("%s ended with %r", task.get_name(), task.exception())


class TaskSupervisor:
    """Start with `add`; `stop()` cancels every task and waits for them (safe twice)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._tasks: dict[str, _Task] = {}
        self._stopping = False
        self._rng = rng or random.Random()

    def add(
        self, name: str, factory: Factory, stall_s: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Run `factory(beat)` as a supervised task; it may return once `stop` is set."""
        entry = _Task(name, factory, stall_s, stop)
        self._tasks[name] = entry
        entry.task = asyncio.create_task(self._keep(entry), name=f"agent:{name}")

    async def _keep(self, entry: _Task) -> None:
        while not self._stopping and not (entry.stop is not None and entry.stop.is_set()):
            entry.state = "running"
            entry.last_beat = time.monotonic()
            try:
                await entry.factory(entry.beat)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                entry.last_error = f"{type(exc).__name__}: {exc}"
                log.error("task %s failed, restarting in %.1f s: %s", entry.name,
                          entry.backoff_s, entry.last_error, exc_info=exc)
            else:
                if self._stopping or (entry.stop is not None and entry.stop.is_set()):
                    break
                entry.last_error = "ended unexpectedly"
                log.error("task %s ended unexpectedly, restarting in %.1f s", entry.name,
                          entry.backoff_s)
            entry.restarts += 1
            entry.state = "restarting"
            await asyncio.sleep(entry.backoff_s * (0.5 + 0.5 * self._rng.random()))  # backoff
            entry.backoff_s = min(BACKOFF_MAX_S, entry.backoff_s * 2)
        entry.state = "stopped"

    def healthy(self, now: float | None = None) -> bool:
        """Every task running and, with a stall limit, beating within it."""
        now = time.monotonic() if now is None else now
        for entry in self._tasks.values():
            if entry.state != "running":
                return False
            if entry.stall_s is not None and now - entry.last_beat > entry.stall_s:
                return False
        return True

    def unhealthy(self, now: float | None = None) -> list[str]:
        """Names of the tasks `healthy()` objects to, with why."""
        now = time.monotonic() if now is None else now
        out = []
        for entry in self._tasks.values():
            if entry.state != "running":
                out.append(f"{entry.name} {entry.state}")
            elif entry.stall_s is not None and now - entry.last_beat > entry.stall_s:
                out.append(f"{entry.name} stalled for {now - entry.last_beat:.0f} s")
        return out

    def states(self) -> tuple[TaskState, ...]:
        return tuple(TaskState(e.name, e.state, e.restarts, e.last_error)
                     for e in self._tasks.values())

    async def finish(self, name: str, timeout_s: float) -> None:
        """Wait for task `name` (its stop event set) to end, cancelling it after `timeout_s`."""
        task = self._tasks[name].task
        if task is not None:
            await finish(task, timeout_s)

    async def stop(self) -> None:
        self._stopping = True
        tasks = [e.task for e in self._tasks.values() if e.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for entry in self._tasks.values():
            entry.state = "stopped"
