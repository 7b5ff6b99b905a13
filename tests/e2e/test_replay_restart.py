"""`agent replay --shift-to-now` killed and started again writes nothing twice; a capture
that is only partly readable replays its good records and exits 1 saying how many not."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import etcd3

from roadside.common.identity import Identity
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import wait_until
from tests.fixtures.sim import KEEP_ALL
from tests.fixtures.stored import copies_in, passes_in
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


def kill_while_uploading(cmd: list[str], environ: dict[str, str],
                         stored: Callable[[], int], kills: int = 3) -> None:
    """Start `cmd` and SIGKILL it once `stored` has grown by 20, `kills` times."""
    for kill in range(kills):
        proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        already = stored()
        wait_until(lambda a=already: stored() > a + 20, TIMEOUT_S,
                   f"uploads before kill {kill + 1}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


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
    kill_while_uploading(replay_cmd(addr, secret, "restarted", capture), slow,
                         lambda: count(etcd_client, namespace, "restarted"))
    done = subprocess.run(replay_cmd(addr, secret, "restarted", capture), env=env(restarted),
                          capture_output=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert count(etcd_client, namespace, "restarted") == reference


def test_on_its_state_dir_a_killed_replay_sends_only_the_rest_and_stores_each_pass_once(
    site: Site, captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, tmp_path: Path,
) -> None:
    """The fault campaign's kills: a replay killed again and again on one state directory
    left 6.3 copies of each pass in etcd; now each run sends only what was not sent."""
    addr = start_test_central().collector_addr
    secret = agent_config().secret_file
    state = ["--state-dir", str(tmp_path / "state")]
    capture = captures_dir / CAPTURE
    tls = site.env(Identity("detector", "kept"))
    slow = env(tls, ROADSIDE_BATCH_MAX_PASSES="10")
    kill_while_uploading([*replay_cmd(addr, secret, "kept", capture), *state], slow,
                         lambda: copies_in(etcd_client, namespace, "kept"))
    done = subprocess.run([*replay_cmd(addr, secret, "kept", capture), *state], env=env(tls),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    stored = len(passes_in(etcd_client, namespace, "kept"))
    assert stored > 1000
    # at most the batch in flight at each kill is stored twice (10 passes a kill)
    assert copies_in(etcd_client, namespace, "kept") <= stored + 3 * 10
    assert "sent before" in done.stdout


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
