"""Supervisor: failing sources are restarted with backoff, silent ones by the watchdog."""

from __future__ import annotations

import asyncio

import pytest

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.sources import supervisor as sup
from roadside.agent.sources.base import Emit, SourceError
from roadside.agent.sources.supervisor import Supervisor
from roadside.common.humanize import rate_text
from tests.fixtures.polling import eventually


def _sighting(name: str) -> Sighting:
    return Sighting(b"\x02\0\0\0\0\x01", 1, -50, RadioKind.WIFI, AddressKind.WIFI_LOCAL, name)


class Flaky:
    """Fails its first `failures` runs, then emits one sighting per `kick` until stopped."""

    def __init__(self, name: str, failures: int, error: type[Exception] = SourceError) -> None:
        self.name = name
        self.failures = failures
        self.error = error
        self.runs = 0
        self.kick = asyncio.Event()

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise self.error(f"adapter gone (run {self.runs})")
        emit(_sighting(self.name))
        while not stop.is_set():
            stopping = asyncio.create_task(stop.wait())
            kicked = asyncio.create_task(self.kick.wait())
            await asyncio.wait({stopping, kicked}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            kicked.cancel()
            if self.kick.is_set():
                self.kick.clear()
                emit(_sighting(self.name))


class Once:
    """Emits one sighting and returns: a replay at its end."""

    name = "once"
    runs = 0

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self.runs += 1
        emit(_sighting(self.name))


async def _start(s: Supervisor) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(s.run(stop), name="supervisor")


async def test_failing_source_is_restarted_with_backoff_and_recovers() -> None:
    got: list[Sighting] = []
    flaky = Flaky("ble", failures=3)
    s = Supervisor([flaky], got.append, None, backoff_initial_s=0.01, backoff_max_s=0.05)
    stop, task = await _start(s)
    await eventually(lambda: len(got) == 1)
    (state,) = s.status()
    assert (state.name, state.state, state.restarts) == ("ble", "running", 3)
    assert state.last_error == "SourceError: adapter gone (run 3)"
    flaky.kick.set()
    await eventually(lambda: len(got) == 2)
    assert s.status()[0].sightings_per_minute == 2.0
    stop.set()
    await asyncio.wait_for(task, 10)
    assert s.status()[0].state == "stopped"


async def test_unexpected_exception_is_restarted_too() -> None:
    got: list[Sighting] = []
    flaky = Flaky("serial", failures=1, error=RuntimeError)
    s = Supervisor([flaky], got.append, None, backoff_initial_s=0.01)
    stop, task = await _start(s)
    await eventually(lambda: len(got) == 1)
    assert s.status()[0].restarts == 1 and "RuntimeError" in s.status()[0].last_error
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_silent_source_is_restarted_by_the_watchdog() -> None:
    got: list[Sighting] = []
    quiet = Flaky("wifi", failures=0)  # one sighting per run, then silence
    s = Supervisor([quiet], got.append, silence_restart_s=0.1)
    stop, task = await _start(s)
    await eventually(lambda: quiet.runs >= 3)
    state = s.status()[0]
    assert state.restarts >= 2 and state.last_error == "silent for 0.1 s"
    assert len(got) >= 3
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_a_source_that_keeps_talking_is_not_restarted() -> None:
    got: list[Sighting] = []
    talker = Flaky("wifi", failures=0)
    s = Supervisor([talker], got.append, silence_restart_s=5.0)
    stop, task = await _start(s)
    for n in range(2, 12):  # ten sightings, each well inside the limit of the previous
        talker.kick.set()
        await eventually(lambda n=n: len(got) == n)  # type: ignore[misc]
    assert talker.runs == 1 and s.status()[0].restarts == 0
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_finished_source_is_not_restarted_and_run_returns() -> None:
    got: list[Sighting] = []
    once = Once()
    s = Supervisor([once], got.append, silence_restart_s=0.05)
    stop, task = await _start(s)
    await asyncio.wait_for(task, 10)  # every source finished: run returns by itself
    assert once.runs == 1 and len(got) == 1
    assert s.status()[0].state == "finished" and not stop.is_set()


class Capture:
    """An event-time source (a replay at full speed): ten minutes of capture, one sighting
    a second, emitted at once; it returns when `done` is set."""

    name = "replay"
    event_time = True
    silence_limit_s = None

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.emitted = 0

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        t0 = 1_600_000_000 * sup.NS
        for i in range(600):
            emit(_sighting(self.name)._replace(t_ns=t0 + i * sup.NS))
            self.emitted += 1
        await self.done.wait()


async def test_replay_rate_is_over_capture_time_and_gone_when_finished() -> None:
    capture = Capture()
    s = Supervisor([capture], lambda _s: None, None)
    _stop, task = await _start(s)
    await eventually(lambda: capture.emitted == 600)
    # 600 sightings within a moment of wall time: the last minute of the capture had 60
    assert s.status()[0].sightings_per_minute == 60.0
    capture.done.set()
    await asyncio.wait_for(task, 10)
    (state,) = s.status()
    assert (state.state, state.sightings_per_minute) == ("finished", 0.0)
    assert rate_text(state.state, state.sightings_per_minute) == "-"


def test_live_rate_counts_the_last_minute_of_wall_time() -> None:
    now = [0.0]
    meter = sup.RateMeter(clock=lambda: now[0])
    for second in range(1000, 1090):  # 90 sightings over 90 s: one a second
        now[0] = second + 0.5
        meter.heard(_sighting("ble"))
    assert meter.per_minute() == 60.0  # only the last minute's
    now[0] += 120.0  # then two silent minutes
    assert meter.per_minute() == 0.0


class Deaf:
    """Ignores its stop event: must be cancelled."""

    name = "deaf"
    cancelled = False

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_source_that_ignores_stop_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup, "STOP_TIMEOUT_S", 0.05)
    deaf = Deaf()
    s = Supervisor([deaf], lambda _s: None, None)
    stop, task = await _start(s)
    await eventually(lambda: s.status()[0].state == "running")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert deaf.cancelled


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        Supervisor([Flaky("a", 0), Flaky("a", 0)], lambda _s: None)


async def test_an_expected_failure_is_one_line_and_the_unexpected_traceback_comes_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[Sighting] = []
    away = Flaky("ble", failures=4)  # BlueZ not there: SourceError every time
    odd = Flaky("odd", failures=3, error=ZeroDivisionError)
    s = Supervisor([away, odd], got.append, None, backoff_initial_s=0.01, backoff_max_s=0.02)
    stop, task = await _start(s)
    await eventually(lambda: len(got) == 2)
    stop.set()
    await task
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert sum(1 for r in failed if "source ble" in r.getMessage()) == 4
    assert all(r.exc_info is None for r in failed if "source ble" in r.getMessage())
    assert sum(1 for r in failed if "source odd" in r.getMessage() and r.exc_info) == 1
