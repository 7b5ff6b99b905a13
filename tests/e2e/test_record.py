"""`agent record` writes hashed sightings only, and `agent replay` takes them back unchanged."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from scapy.layers.dot11 import Dot11
from scapy.utils import rdpcap

from roadside.agent.commands.replay import replay
from roadside.agent.sources.replay import FAST
from roadside.central.api.server import RunningCentral
from tests.fixtures.agent import MakeConfig
from tests.fixtures.central import StartCentral
from tests.fixtures.sim import CENTURY_DAYS, KEEP_ALL, StoredPasses, keep_all


def raw_forms(macs: set[str]) -> list[bytes]:
    out = []
    for mac in macs:
        raw = bytes.fromhex(mac.replace(":", ""))
        out += [raw, mac.encode(), mac.replace(":", "").encode(), mac.upper().encode()]
    return out


async def test_a_recording_has_no_raw_mac_and_replays_like_the_capture(
    captures_dir: Path, start_test_central: StartCentral, agent_config: MakeConfig,
    stored_passes: StoredPasses, tmp_path: Path,
) -> None:
    central = start_test_central(retention_days=CENTURY_DAYS)  # the capture is from 2023
    capture = captures_dir / "wifi" / "probing-patterns_S21Ultra-M.pcap"
    config = keep_all(agent_config(central.collector_addr, detector_id="from-capture"))
    recording = tmp_path / "s21.jsonl"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in KEEP_ALL.items()]
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "roadside.common.main", "agent", "record", "--out", str(recording),
        "--replay", str(capture), "--secret-file", str(config.secret_file),
        "--ble-enabled", "false", "--detector-id", "recorder", *flags,
    ], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "recorded" in done.stdout

    text = recording.read_bytes()
    macs = {p[Dot11].addr2 for p in rdpcap(str(capture)) if p.haslayer(Dot11)}
    assert macs
    for form in raw_forms(macs):
        assert form not in text

    await replay(config, [capture], FAST, shift_to_now=False)
    rec_config = keep_all(agent_config(central.collector_addr, detector_id="from-recording",
                                       state_dir=tmp_path / "rec-state"))
    summary = await replay(rec_config, [recording], FAST, shift_to_now=False)
    assert summary.skipped == {} and summary.uploaded == summary.passes > 0

    def figures(det: str) -> set[tuple[str, int, int, int, int, str]]:
        return {(p.device_id, p.first_ns, p.last_ns, p.peak_rssi, p.count, p.address_kind)
                for p in stored_passes(det)}

    assert figures("from-capture") == figures("from-recording")


async def test_a_damaged_recording_replays_its_good_lines_and_counts_the_rest(
    central: RunningCentral, agent_config: MakeConfig, tmp_path: Path,
) -> None:
    recording = tmp_path / "r.jsonl"
    good = ('{"t_ns": %d, "device_id": "%s", "rssi": -60, "radio": "wifi", '
            '"address_kind": "wifi_global", "channel": 6, "source": "wifi"}\n')
    now = 1_764_000_000_000_000_000
    recording.write_text(
        '{"format": "roadside-hashed-sightings", "version": 1}\n'
        + good % (now, "ab" * 16)
        + '{"t_ns": "soon", "device_id": "x"}\n'
        + good % (now + 10**9, "cd" * 16)
        + good.rstrip("\n")[:40]  # cut off mid-line
    )
    config = agent_config(central.collector_addr, detector_id="damaged")
    summary = await replay(config, [recording], FAST, shift_to_now=True)
    assert summary.frames_read == 4 and summary.sightings == 2
    assert summary.skipped == {"bad_record_line": 1, "truncated_record_line": 1}
    assert summary.skipped_in == {str(recording): summary.skipped}
    assert summary.uploaded == 2
