"""The interface every source implements.

A source calls `emit(sighting)` for each frame or advertisement it hears, from the event
loop's thread, and returns from `run` when `stop` is set. Errors it cannot handle are raised
as SourceError; the supervisor logs them and restarts the source with backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from roadside.agent.errors import AgentError
from roadside.agent.model import Sighting

Emit = Callable[[Sighting], None]


class SourceError(AgentError):
    """A source failed (adapter gone, interface down, port unplugged); it will be restarted."""


class Source(Protocol):
    name: str

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Hear sightings and emit them until `stop` is set."""
        ...


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop` (pacing, backoff); True when it was set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
