"""Forward-secure device ids: a box keeps only the current epoch's key (and the previous
one for the overlap after a boundary); a stolen box cannot recompute earlier days' ids;
a trip across a boundary is still matched."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roadside.agent import wire
from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.pipeline import Pipeline
from roadside.agent.privacy import KEYS_FILE, OVERLAP_S, DeviceHasher, EpochKeyErased
from roadside.agent.runner import AgentRunner
from roadside.agent.status import read_status
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import engine, stats
from roadside.central.traveltime.model import Target
from tests.fixtures.agent import FakeSource, MakeConfig, running_agent, sighting
from tests.fixtures.polling import eventually

SEED = b"forward-secrecy-test-site-seed-0123456789"
S = 1_000_000_000
DAY = 86_400 * S
MAC = bytes.fromhex("001b63a1b2c3")
BOUNDARY = int(datetime(2026, 11, 30, 3, 0, tzinfo=UTC).timestamp()) * S  # an epoch start


def test_a_box_holds_only_the_current_key_and_cannot_go_back() -> None:
    site = DeviceHasher(SEED)  # the operator's, with the seed
    box = site.without_seed(BOUNDARY + 6 * 3600 * S)  # enrolled mid-epoch
    neighbour = site.without_seed(BOUNDARY + 20 * 3600 * S)  # enrolled later the same day
    t = BOUNDARY + 12 * 3600 * S
    assert box.device_id(MAC, t) == neighbour.device_id(MAC, t) == site.device_id(MAC, t)
    assert box.device_id(MAC, t + DAY) == site.device_id(MAC, t + DAY)  # ratchets forward
    assert box.forget_previous(t + DAY)  # the overlap after that boundary is long over
    state = json.dumps(box.state())
    for back in (t, t - DAY, t - 30 * DAY):  # no earlier day's key is on the box
        assert site.epoch_key(site.epoch(back)).hex() not in state
        with pytest.raises(EpochKeyErased):
            box.device_id(MAC, back)
    restored = DeviceHasher.from_state(json.loads(state), AgentConfig())
    assert restored.device_id(MAC, t + DAY) == site.device_id(MAC, t + DAY)


def test_the_previous_key_serves_only_the_overlap() -> None:
    site = DeviceHasher(SEED)
    box = site.without_seed(BOUNDARY - 60 * S)
    before = box.device_id(MAC, BOUNDARY - 60 * S)
    assert box.ids(MAC, BOUNDARY + 120 * S)[1] == before  # just after: the old id too
    assert box.ids(MAC, BOUNDARY + int(OVERLAP_S) * S)[1] is None  # the overlap is over


def test_a_trip_across_the_epoch_boundary_is_matched_once() -> None:
    site = DeviceHasher(SEED)

    def passes(detector: str, t_ns: int) -> list:  # type: ignore[type-arg]
        cfg = AgentConfig(detector_id=detector, pass_gap_s=5)
        pipe = Pipeline(cfg, site, buffer=None)  # type: ignore[arg-type]
        pipe.on_sighting(Sighting(MAC, t_ns, -60, RadioKind.WIFI, AddressKind.WIFI_GLOBAL,
                                  "fake", 6))
        pipe.close_all()
        return pipe._pending

    at_a = passes("a", BOUNDARY - 60 * S)  # heard at A a minute before the boundary
    at_b = passes("b", BOUNDARY + 120 * S)  # and at B two minutes after it
    assert len(at_a) == 1 and sorted(p.alias for p in at_b) == [False, True]
    target = Target((LinkRecord("a", "b", 900, 0.0),))
    window = (BOUNDARY + 120 * S) // (300 * S) * 300
    upstream = [[(p.device_id, p.timestamp_ns) for p in at_a if not p.alias]]
    dest = [(p.device_id, p.timestamp_ns) for p in at_b]
    [w] = engine.compute_from_passes(target, upstream, dest, [window], 300, stats.Rules(k=1))
    assert w.count == 1 and w.figures is not None and w.figures.median_s == 180.0


async def test_a_live_agent_keeps_epoch_keys_not_the_seed(
    agent_config: MakeConfig, tmp_path: Path,
) -> None:
    config = agent_config()
    async with running_agent(config, FakeSource()):
        pass
    keys = config.state_dir / KEYS_FILE
    assert keys.exists() and keys.stat().st_mode & 0o777 == 0o600
    seed = config.secret_file.read_bytes().strip()
    assert seed.decode() not in keys.read_text()
    os.remove(config.secret_file)  # the seed off the box: the agent runs on its keys
    runner = AgentRunner(config, [FakeSource()])
    assert runner.pipeline.hasher.state() == json.loads(keys.read_text())


async def test_a_sighting_of_an_erased_epoch_is_counted_in_the_status(
    agent_config: MakeConfig,
) -> None:
    """A clock that jumps back two days: the box cannot hash that time any more (its key is
    gone); the sighting is dropped and counted in status.json, the report and metrics."""
    config = agent_config()
    source = FakeSource()
    async with running_agent(config, source) as runner:
        two_days_ago = time.time_ns() - 2 * 86_400 * 1_000_000_000
        source.inject(sighting(b"\x00\x1b\x63\xaa\xbb\xcc", two_days_ago))
        await eventually(lambda: runner.pipeline.counts().erased_epoch == 1,
                         what="the sighting to be refused")
        status = await runner.status()
    assert status.erased_epoch_sightings == 1 and status.sightings_total == 0
    assert wire.status_to_pb(status).erased_epoch_sightings == 1
    assert read_status(config.state_dir).erased_epoch_sightings == 1
