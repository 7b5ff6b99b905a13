"""Recordings: hashed before they are written, the policy applied, read back line by line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from roadside.agent.commands.record import Recorder
from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.privacy import DeviceHasher, PrivacyPolicy
from roadside.agent.recording import (
    RecordedIds,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    is_recording,
)

SECRET = b"a site secret of enough bytes!!"
T0 = 1_764_000_000_000_000_000
MACS = {
    AddressKind.WIFI_GLOBAL: bytes.fromhex("001a11aabbcc"),
    AddressKind.WIFI_LOCAL: bytes.fromhex("3a1a11aabbcc"),
    AddressKind.BLE_NON_RESOLVABLE: bytes.fromhex("2a1a11aabbcc"),
}


async def test_recorder_hashes_applies_the_policy_and_never_writes_a_mac(tmp_path: Path) -> None:
    config = dataclasses.replace(AgentConfig(), policy_ble_non_resolvable="drop")
    hasher = DeviceHasher(SECRET)
    out = tmp_path / "r.jsonl"
    writer = RecordingWriter(out, {"detector_id": "d1"})
    recorder = Recorder(hasher, PrivacyPolicy.from_config(config), writer)
    for i, (kind, mac) in enumerate(MACS.items()):
        radio = RadioKind.BLE if kind.value.startswith("ble") else RadioKind.WIFI
        recorder.emit(Sighting(mac, T0 + i, -60, radio, kind, "test", 6))
    await recorder.flush()
    writer.close()

    assert is_recording(out)
    text = out.read_bytes()
    for mac in MACS.values():
        assert mac not in text and mac.hex().encode() not in text
        assert mac.hex(":").encode() not in text
    records = list(RecordingReader(out).records())
    assert [r.address_kind for r in records] == [AddressKind.WIFI_GLOBAL, AddressKind.WIFI_LOCAL]
    assert [r.device_id for r in records] == [
        hasher.device_id(MACS[AddressKind.WIFI_GLOBAL], T0),
        hasher.device_id(MACS[AddressKind.WIFI_LOCAL], T0 + 1),
    ]
    assert recorder.sightings == 3 and recorder.dropped == 1 and writer.records == 2


def test_a_recording_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    RecordingWriter(out, {}).close()
    with pytest.raises(RecordingError, match="exists"):
        RecordingWriter(out, {})


def test_recorded_ids_pass_device_ids_through_and_refuse_a_raw_mac() -> None:
    ids = RecordedIds()
    assert ids.device_id(bytes.fromhex("ab" * 16), T0) == "ab" * 16
    with pytest.raises(RecordingError):
        ids.device_id(MACS[AddressKind.WIFI_GLOBAL], T0)


def test_a_capture_is_not_a_recording(captures_dir: Path) -> None:
    assert not is_recording(captures_dir / "ble" / "take_2_adv37.pcap")
