"""DURABILITY: `roadside agent run` SIGKILLed at random points while uploading to a real
central, restarted each time; in the end every pass is in etcd exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import etcd3
import pytest
import yaml

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.passes import pass_ulid
from roadside.agent.privacy import DeviceHasher, generate_secret
from roadside.sim.capwriter import PcapWriter, probe_request
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import PollTimeout, wait_until
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site

REPO = Path(__file__).resolve().parents[2]
S = 1_000_000_000
DEVICES = 300
KILLS = 6
DETECTOR = "det-kill"
LINKTYPE_RADIOTAP = 127


def write_capture(path: Path, t0: int) -> list[Sighting]:
    """Each device: two bursts of three probe requests, 120 s apart (two passes)."""
    sightings = []
    for d in range(DEVICES):
        mac = bytes([0x00, 0x1A, 0x7D, 0x10, d >> 8, d & 0xFF])
        for burst in (0, 120):
            for k in range(3):
                t = t0 + (d * 2 + burst + k) * S + 1000 * d  # microsecond-exact times
                sightings.append(
                    Sighting(mac, t, -55 - k, RadioKind.WIFI, AddressKind.WIFI_GLOBAL, "replay", 6)
                )
    sightings.sort(key=lambda s: s.t_ns)
    writer = PcapWriter(path, LINKTYPE_RADIOTAP)
    for seq, s in enumerate(sightings):
        writer.write(s.t_ns, probe_request(s, seq))
    writer.close()
    return sightings


def expected_keys(sightings: list[Sighting], secret: bytes, t0: int) -> set[str]:
    """The etcd keys of the passes: one per burst, starting at its first sighting."""
    hasher = DeviceHasher(secret)
    firsts: dict[tuple[bytes, bool], int] = {}
    for s in sightings:
        d = s.mac[4] * 256 + s.mac[5]
        second_burst = (s.t_ns - t0) // S - 2 * d >= 120
        firsts.setdefault((s.mac, second_burst), s.t_ns)
    out = set()
    for (mac, _), first in firsts.items():
        device = hasher.device_id(mac, first)
        out.add(f"{pass_ulid(DETECTOR, device, first)}.{device}")
    return out


def stored(client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> list[str]:
    return [k.rsplit("/", 1)[1] for k in passes_in(client, namespace, DETECTOR)]


@contextlib.contextmanager
def agent_process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`roadside agent run` as a child; killed at the end whatever happens."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.slow
def test_sigkill_at_random_points_every_pass_once(
    site: Site, start_test_central: StartCentral, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, tmp_path: Path,
) -> None:
    central = start_test_central()
    secret_file = tmp_path / "site.secret"
    secret = generate_secret(secret_file)
    capture = tmp_path / "road.pcap"
    t0 = (time.time_ns() - 3 * 3600 * S) // S * S
    sightings = write_capture(capture, t0)
    want = expected_keys(sightings, secret, t0)
    assert len(want) == 2 * DEVICES
    state = tmp_path / "state"
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "detector_id": DETECTOR, "central": [central.collector_addr],
        "secret_file": str(secret_file), "state_dir": str(state), "pass_gap_s": 30,
        "batch_max_passes": 2, "backoff_initial_s": 0.05, "backoff_max_s": 0.5,
        "ble_enabled": False, "wifi_enabled": False, "serial_enabled": False,
        **{k: str(v) for k, v in site.agent_tls(DETECTOR).items()},
    }))
    command = [sys.executable, "-m", "roadside.common.main", "--log-level", "warning",
               "agent", "run", "--config", str(config), "--replay", str(capture)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(20261127)
    counts: list[int] = []
    for _ in range(KILLS):
        before = len(stored(etcd_client, namespace))
        with agent_process(command, env) as proc:
            # a random kill point: a random few new passes in etcd, or a random moment
            # (start-up, replay, buffering), whichever comes first
            target = before + rng.randint(1, 60)
            with contextlib.suppress(PollTimeout):  # the random moment came first
                wait_until(lambda t=target, p=proc: len(stored(etcd_client, namespace)) >= t
                           or p.poll() is not None, rng.uniform(0.3, 3.0), "a kill point")
            assert proc.poll() is None, "the agent exited by itself"
            proc.send_signal(signal.SIGKILL)
        counts.append(len(stored(etcd_client, namespace)))

    # the last run: replay to the end, then SIGTERM (flush, final upload, exit 0)
    (state / "status.json").unlink(missing_ok=True)
    with agent_process(command, env) as proc:

        def replayed() -> bool:
            try:
                data = json.loads((state / "status.json").read_text())
            except (OSError, ValueError):
                return False
            return bool(data["sightings_total"] == len(sightings))

        wait_until(replayed, 60, "the replay to finish")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    got = stored(etcd_client, namespace)
    assert len(got) == len(set(got))
    print("keys in etcd after each kill:", counts)
    assert set(got) == want, f"kills left {counts} keys; missing {len(want - set(got))}"
