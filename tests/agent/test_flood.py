"""A transmitter inventing a new MAC for every probe request cannot grow etcd faster than
the randomized-pass budget; globally unique addresses heard at the same time are untouched."""

from __future__ import annotations

import random
import time
from pathlib import Path

import etcd3
import pytest

from roadside.agent.commands.replay import replay
from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.sources.dot11 import LINKTYPE_RADIOTAP
from roadside.agent.sources.replay import FAST
from roadside.central.api.server import RunningCentral
from roadside.sim.capwriter import PcapWriter, probe_request
from tests.agent.test_uplink import stored_keys
from tests.fixtures.agent import MakeConfig, live
from tests.fixtures.sim import keep_all

S = 1_000_000_000
FLOOD = 100_000  # probe requests, each from a new random MAC, over two minutes
BUDGET = 300  # new randomized passes per minute


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # a capture of the last hour: no boundary overlap in it


def flood_capture(path: Path, start_ns: int) -> set[bytes]:
    """The flood plus 40 phones with global addresses; returns those 40 MACs."""
    rng = random.Random(11)
    phones = {bytes([0x00, 0x1B, 0x63, 0, 0, i]) for i in range(40)}
    writer = PcapWriter(path, LINKTYPE_RADIOTAP)
    step = 120 * S // FLOOD
    for n in range(FLOOD):
        mac = bytes([(rng.randrange(256) & 0xFC) | 0x02, *rng.randbytes(5)])  # local, unicast
        t = start_ns + n * step
        s = Sighting(mac, t, -50, RadioKind.WIFI, AddressKind.WIFI_LOCAL, "flood", 6)
        writer.write(t, probe_request(s, n))
    for i, mac in enumerate(sorted(phones)):
        t = start_ns + i * 3 * S
        s = Sighting(mac, t, -70, RadioKind.WIFI, AddressKind.WIFI_GLOBAL, "phone", 6)
        writer.write(t, probe_request(s, i))
    writer.close()
    return phones


async def test_a_random_mac_flood_is_held_to_the_budget(
    central: RunningCentral, agent_config: MakeConfig, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    start = (time.time_ns() - 3600 * S) // (60 * S) * (60 * S)  # on a minute boundary
    path = tmp_path / "flood.pcap"
    flood_capture(path, start)
    config = keep_all(agent_config(central.collector_addr, detector_id="flooded",
                                   randomized_passes_per_minute=BUDGET))
    summary = await replay(config, [path], FAST, shift_to_now=False)
    stored = stored_keys(etcd_client, namespace, "flooded")
    randomized = len(stored) - 40
    assert summary.frames_read == FLOOD + 40
    assert 0 < randomized <= 2 * BUDGET  # two minutes of flood: two budgets at most
    assert len(stored) >= 40  # every phone with a global address is there
    assert summary.over_budget == FLOOD - randomized
