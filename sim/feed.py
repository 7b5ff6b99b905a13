"""Drive simulated sightings through real agent pipelines, one AgentRunner per detector.

Each detector gets its own AgentRunner (hashing, passes, its own disk buffer, the uplink to
central), fed by a SimSource instead of a radio. Passes close by event time, as in replay,
and each runner ends when central has acknowledged every pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from roadside.agent.config import AgentConfig
from roadside.agent.model import Sighting
from roadside.agent.runner import AgentRunner, Progress
from roadside.agent.sources.base import Emit
from roadside.sim.network import Network

CHUNK = 512  # sightings emitted between yields to the event loop
PROGRESS_S = 0.25  # how often the progress callback runs
DRAIN_TIMEOUT_S = 120.0  # after the last sighting, for central to acknowledge everything


class SimSource:
    """A finite source that emits a list of sightings as fast as the pipeline takes them."""

    silence_limit_s: float | None = None

    def __init__(self, sightings: Sequence[Sighting], name: str = "sim") -> None:
        self.name = name
        self._sightings = sightings
        self.emitted = 0

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        for i, s in enumerate(self._sightings):
            if stop.is_set():
                return
            emit(s)
            self.emitted += 1
            if i % CHUNK == CHUNK - 1:
                await asyncio.sleep(0)  # let the tick and uplink tasks run


def detector_config(base: AgentConfig, network: Network, detector_id: str,
                    state_root: Path, pki_dir: Path | None = None) -> AgentConfig:
    """One simulated box: its identity, its state, and (with `pki_dir`) its certificate."""
    d = network.detector(detector_id)
    config = dataclasses.replace(
        base, detector_id=d.id, name=d.name, latitude=d.latitude, longitude=d.longitude,
        state_dir=state_root / d.id, metrics=False,  # many agents in one process
    )
    if pki_dir is None:
        return config
    return dataclasses.replace(config, tls_ca_file=pki_dir / "ca.pem",
                               tls_cert_file=pki_dir / f"detector-{d.id}.pem",
                               tls_key_file=pki_dir / f"detector-{d.id}.key")


async def run_agents(
    configs: Sequence[AgentConfig],
    sightings: Callable[[str], Sequence[Sighting]],
    secret: bytes,
    progress: Callable[[dict[str, Progress]], None] | None = None,
    drain_timeout_s: float = DRAIN_TIMEOUT_S,
) -> dict[str, Progress]:
    """Run one agent per config until central has acknowledged all; the final figures."""
    runners = {
        c.detector_id: AgentRunner(c, [SimSource(sightings(c.detector_id))], event_time=True,
                                   secret=secret)
        for c in configs
    }
    for c in configs:
        c.state_dir.mkdir(parents=True, exist_ok=True)
    tasks = [asyncio.create_task(r.run(until_drained=True, drain_timeout_s=drain_timeout_s),
                                 name=f"sim-agent:{det}") for det, r in runners.items()]
    try:
        while True:
            done, _ = await asyncio.wait(tasks, timeout=PROGRESS_S,
                                         return_when=asyncio.FIRST_EXCEPTION)
            if progress is not None:
                progress({det: r.progress() for det, r in runners.items()})
            if len(done) == len(tasks) or any(t.exception() for t in done):
                break
        for t in tasks:
            if t.done():  # the others may still run: they are cancelled below
                t.result()  # raise the first failure (DrainTimeout, buffer errors)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {det: r.progress() for det, r in runners.items()}
