"""`agent replay --shift-to-now` killed and started again writes nothing twice; a capture
that is only partly readable replays its good records and exits 1 saying how many not."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import etcd3

from roadside.common.identity import Identity
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import wait_until
from tests.fixtures.sim import KEEP_ALL
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site

CAPTURE = "wifi/sc6-61_2024-02-08_position_1.pcap"
TIMEOUT_S = 120


def replay_cmd(addr: str, secret: Path, detector: str, *files: Path) -> list[str]:
    return [sys.executable, "-m", "roadside.common.main", "--log-level", "warning", "agent",
            "replay", "--detector", detector, "--secret-file", str(secret), "--central", addr,
            "--fast", "--shift-to-now", "--quiet", *map(str, files)]


def env(tls: dict[str, str], **more: str) -> dict[str, str]:
    """The environment of a replay: every address kind kept, TLS as one box (`tls`)."""
    return {**os.environ, **{f"ROADSIDE_{k.upper()}": v for k, v in KEEP_ALL.items()},
            **tls, **more}


def count(client: etcd3.MultiEndpointEtcd3Client, namespace: str, detector: str) -> int:
    return len(passes_in(client, namespace, detector))


def test_a_killed_shifted_replay_started_again_writes_nothing_twice(
    site: Site, captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    addr = start_test_central().collector_addr
    secret = agent_config().secret_file
    capture = captures_dir / CAPTURE
    done = subprocess.run(replay_cmd(addr, secret, "reference", capture),
                          env=env(site.env(Identity("detector", "reference"))),
                          capture_output=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    reference = count(etcd_client, namespace, "reference")
    assert reference > 1000
    restarted = site.env(Identity("detector", "restarted"))
    slow = env(restarted, ROADSIDE_BATCH_MAX_PASSES="10")  # many small uploads: time to kill it
    for kill in range(3):
        proc = subprocess.Popen(replay_cmd(addr, secret, "restarted", capture), env=slow,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        already = count(etcd_client, namespace, "restarted")
        wait_until(lambda a=already: count(etcd_client, namespace, "restarted") > a + 20,
                   TIMEOUT_S, f"uploads before kill {kill + 1}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(replay_cmd(addr, secret, "restarted", capture), env=env(restarted),
                          capture_output=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert count(etcd_client, namespace, "restarted") == reference


def test_a_partly_readable_capture_exits_1_naming_the_skipped_records(
    site: Site, captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    tmp_path: Path, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    addr = start_test_central().collector_addr
    data = (captures_dir / "wifi" / "probing-patterns_iPhone12-M.pcap").read_bytes()
    # one record dated 2106 (the largest pcap second) after the header
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    bad = bytearray(data[24:24 + 16 + first_len])
    struct.pack_into("<I", bad, 0, 0xFFFFFFFF)
    path = tmp_path / "dated-2106.pcap"
    path.write_bytes(data[:24] + bytes(bad) + data[24:])
    done = subprocess.run(replay_cmd(addr, agent_config().secret_file, "partly", path),
                          env=env(site.env(Identity("detector", "partly"))),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1
    assert "1 record could not be read" in done.stderr and "Traceback" not in done.stderr
    assert "bad_timestamp 1" in done.stdout
    assert count(etcd_client, namespace, "partly") > 0
