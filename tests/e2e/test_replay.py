"""`agent replay` into a real central: the real captures, pcapng, truncated files, recordings."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import etcd3
import pytest
from scapy.layers.dot11 import RadioTap
from scapy.utils import PcapNgWriter, rdpcap

from roadside.agent.commands.replay import replay
from roadside.agent.model import AddressKind
from roadside.agent.sources.replay import FAST
from roadside.central.store import keys
from roadside.common.identity import Identity
from roadside.common.main import main
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.sim import CENTURY_DAYS, KEEP_ALL, StoredPasses, dump, keep_all
from tests.fixtures.trust import Site

pytestmark = pytest.mark.wheel  # also run against the installed wheel

BLE_KINDS = {k.value for k in AddressKind if k.name.startswith("BLE_")}


def wifi(captures: Path, name: str) -> Path:
    return captures / "wifi" / name


async def test_position_captures_match_the_devices_they_hold_and_replay_is_idempotent(
    captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    stored_passes: StoredPasses, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
    tmp_path: Path,
) -> None:
    central = start_test_central(retention_days=CENTURY_DAYS)
    files = {"position-1": wifi(captures_dir, "sc6-61_2024-02-08_position_1.pcap"),
             "position-2": wifi(captures_dir, "sc6-61_2024-02-08_position_2.pcap")}

    async def replay_both(state: str = "") -> None:
        for det, path in files.items():
            config = keep_all(agent_config(central.collector_addr, detector_id=det,
                                           pass_gap_s=30.0))
            if state:  # a state dir of its own: every pass is sent again
                config = dataclasses.replace(config, state_dir=tmp_path / state / det)
            summary = await replay(config, [path], FAST, shift_to_now=False)
            assert summary.uploaded == summary.passes > 0 and summary.rejected == 0
            assert summary.skipped.get("truncated_record", 0) == 0

    await replay_both()
    ids = {det: {p.device_id for p in stored_passes(det)} for det in files}
    assert len(ids["position-1"]) == 674
    assert len(ids["position-2"]) == 768
    assert len(ids["position-1"] & ids["position-2"]) == 246

    before = dump(etcd_client, keys.detections_prefix(namespace))
    await replay_both("again")
    after = dump(etcd_client, keys.detections_prefix(namespace))
    assert after == before


async def test_ble_captures_replay_into_passes_with_ble_address_kinds(
    captures_dir: Path, central: object, agent_config: MakeConfig,
    stored_passes: StoredPasses,
) -> None:
    files = sorted((captures_dir / "ble").glob("*.pcap"))
    config = keep_all(agent_config(central.collector_addr, detector_id="ble-box"))  # type: ignore[attr-defined]
    summary = await replay(config, files, FAST, shift_to_now=True)
    passes = stored_passes("ble-box")
    assert summary.sightings > 0 and len(passes) == summary.passes == summary.uploaded
    assert {p.radio for p in passes} == {"ble"}
    kinds = {p.address_kind for p in passes}
    assert kinds <= BLE_KINDS and len(kinds) >= 2, kinds


async def test_pcapng_replays_exactly_like_the_pcap_it_was_written_from(
    captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    stored_passes: StoredPasses, tmp_path: Path,
) -> None:
    pcap = wifi(captures_dir, "probing-patterns_iPhone12-M.pcap")
    pcapng = tmp_path / "iphone12.pcapng"
    packets = rdpcap(str(pcap))
    assert all(p.haslayer(RadioTap) for p in packets)
    with PcapNgWriter(str(pcapng)) as writer:  # scapy keeps each packet's time and link type
        writer.write(packets)
    assert pcapng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a pcapng section header
    addr = start_test_central(retention_days=CENTURY_DAYS).collector_addr
    for det, path in (("from-pcap", pcap), ("from-pcapng", pcapng)):
        config = keep_all(agent_config(addr, detector_id=det, state_dir=tmp_path / det))
        await replay(config, [path], FAST, shift_to_now=False)

    def figures(det: str) -> set[tuple[str, int, int, int, int]]:
        return {(p.device_id, p.first_ns, p.last_ns, p.peak_rssi, p.count)
                for p in stored_passes(det)}

    assert figures("from-pcap") and figures("from-pcap") == figures("from-pcapng")


def whole_records(data: bytes) -> int:
    """Records of a little-endian classic pcap that are complete in `data`."""
    pos, n = 24, 0
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        if pos + 16 + incl > len(data):
            break
        pos, n = pos + 16 + incl, n + 1
    return n


async def test_a_truncated_capture_replays_its_good_frames_and_names_the_rest(
    captures_dir: Path, central: object, agent_config: MakeConfig, tmp_path: Path,
    stored_passes: StoredPasses,
) -> None:
    data = wifi(captures_dir, "probing-patterns_OppoFindX3Neo-A.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])  # ends inside a record
    good = whole_records(cut.read_bytes())
    config = keep_all(agent_config(central.collector_addr, detector_id="cut"))  # type: ignore[attr-defined]
    summary = await replay(config, [cut], FAST, shift_to_now=True)
    assert summary.frames_read == good
    assert summary.skipped.get("truncated_record") == 1
    assert summary.skipped_in == {str(cut): {"truncated_record": 1}}
    assert summary.uploaded == summary.passes == len(stored_passes("cut")) > 0


def test_cli_names_a_missing_file_in_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["agent", "replay", "--detector", "d1", "--fast", str(tmp_path / "nope.pcap")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "nope.pcap" in err and "Traceback" not in err


# --- what a technician sees on stderr -------------------------------------------------------

SMALL = ("probing-patterns_iPhone12-M.pcap", "probing-patterns_S21Ultra-M.pcap")
COLUMNS = 72
CLI_TIMEOUT_S = 90.0
BAR = re.compile(r"replay \[[#.?]+\] +(\d+)%  (\d+) frames  (\d+) passes  backlog (\d+)")


def replay_cli(captures: Path, addr: str, config_dir: Path, stderr: int, site: Site,
               ) -> subprocess.Popen[bytes]:
    """`roadside agent replay --fast --json` of two small captures, as a subprocess, with
    the box's certificate of `site`."""
    env = {**os.environ, **{f"ROADSIDE_{k.upper()}": v for k, v in KEEP_ALL.items()},
           **site.env(Identity("detector", "bar-box"))}
    return subprocess.Popen(
        [sys.executable, "-m", "roadside.common.main", "agent", "replay", "--detector", "bar-box",
         "--secret-file", str(config_dir / "site.secret"), "--central", addr,
         "--state-dir", str(config_dir / "bar-state"), "--fast", "--json",
         *(str(wifi(captures, name)) for name in SMALL)],
        stdout=subprocess.PIPE, stderr=stderr, env=env,
    )


def read_terminal(fd: int) -> str:
    """All the child wrote to its terminal, until it closed it (deadline-bounded)."""
    out = bytearray()
    end = time.monotonic() + CLI_TIMEOUT_S
    while (left := end - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode()


def final_bar(text: str) -> re.Match[str]:
    bars = [m for m in map(BAR.search, re.split(r"[\r\n]", text)) if m]
    assert bars, text
    return bars[-1]


def test_on_a_terminal_the_bar_redraws_in_place_and_ends_full_with_the_counts(
    site: Site, captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
) -> None:
    addr = start_test_central(retention_days=CENTURY_DAYS).collector_addr
    config = agent_config()  # for its site secret
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    try:
        proc = replay_cli(captures_dir, addr, config.secret_file.parent, terminal, site)
        os.close(terminal)
        shown = read_terminal(controller)
        stdout, _ = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        os.close(controller)
    assert proc.returncode == 0, shown
    summary = json.loads(stdout)
    end = final_bar(shown)
    assert (end[1], end[2], end[3], end[4]) == (
        "100", str(summary["frames_read"]), str(summary["passes"]), "0")
    assert summary["passes"] > 0 and end.string.endswith("backlog 0  done")
    assert "\x1b[Kreplay [" in shown  # drawn over the previous state, not below it
    for piece in re.split(r"[\r\n]", shown.replace("\x1b[K", "")):
        if "replay [" in piece:
            assert len(piece) < COLUMNS  # fits: never wraps onto a second line
            assert " INFO " not in piece  # log records get lines of their own


def test_into_a_pipe_there_is_no_redrawing_only_plain_lines(
    site: Site, captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
) -> None:
    addr = start_test_central(retention_days=CENTURY_DAYS).collector_addr
    config = agent_config()
    proc = replay_cli(captures_dir, addr, config.secret_file.parent, subprocess.PIPE, site)
    stdout, err = proc.communicate(timeout=CLI_TIMEOUT_S)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert "\r" not in stderr and "\x1b" not in stderr
    summary = json.loads(stdout)
    bars = [line for line in stderr.splitlines() if "replay [" in line]
    assert bars and all(line.startswith("replay [") for line in bars)
    end = final_bar(bars[-1])
    assert (end[1], end[2], end[3], end[4]) == (
        "100", str(summary["frames_read"]), str(summary["passes"]), "0")
