"""run_agents: one agent failing while another still runs raises that failure."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator, Sequence
from typing import cast

import pytest

from roadside.agent.model import Sighting
from roadside.agent.runner import DrainTimeout
from roadside.sim.feed import run_agents
from tests.fixtures.agent import MakeConfig, live, sighting


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


def endless(mac: bytes) -> Iterator[Sighting]:
    """A detector that never stops hearing one device (until it is cancelled)."""
    t0 = time.time_ns()
    for i in itertools.count():
        yield sighting(mac, t0 + i * 1_000_000)


async def test_the_first_agent_failure_is_raised_while_others_still_run(
    agent_config: MakeConfig,
) -> None:
    # "fails" has one pass and no central (port 1): its drain deadline passes;
    # "busy" (listed first) is still hearing its endless source then, and is cancelled
    fails = agent_config(detector_id="fails")
    busy = dataclasses.replace(agent_config(detector_id="busy"),
                               state_dir=fails.state_dir.parent / "busy")
    heard = {
        "fails": [sighting(bytes([0, 0x1A, 0x7D, 0, 0, 1]), time.time_ns())],
        "busy": cast(Sequence[Sighting], endless(bytes([0, 0x1A, 0x7D, 0, 0, 2]))),
    }
    with pytest.raises(DrainTimeout, match="1 passes not acknowledged"):
        await run_agents([busy, fails], heard.__getitem__, b"s" * 32, drain_timeout_s=0.3)
