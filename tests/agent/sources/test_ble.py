"""BLE through real bleak against python-dbusmock's BlueZ on a private system bus."""

from __future__ import annotations

import asyncio
import logging

import pytest

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.passes import PassBuilder
from roadside.agent.privacy import DeviceHasher
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.ble import BleSource
from roadside.agent.sources.supervisor import Supervisor
from tests.agent.test_privacy_e2e import find_macs
from tests.fixtures.bluez import BluezMock
from tests.fixtures.polling import eventually

DEVICES = {  # address, BlueZ AddressType, the kind the agent must report
    "00:1A:7D:DA:71:13": ("public", AddressKind.BLE_PUBLIC),
    "C4:00:00:00:00:2A": ("random", AddressKind.BLE_RANDOM_STATIC),
    "4A:11:22:33:44:55": ("random", AddressKind.BLE_RESOLVABLE),
    "0A:11:22:33:44:55": ("random", AddressKind.BLE_NON_RESOLVABLE),
}
RSSI = {"00:1A:7D:DA:71:13": -51, "C4:00:00:00:00:2A": -62, "4A:11:22:33:44:55": -73,
        "0A:11:22:33:44:55": -84}
WAIT_S = 10.0


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


async def _add_and_wiggle(bluez: BluezMock) -> None:
    """Devices appear; their RSSI changes during the scan, which is when BlueZ reports them."""
    for address, (kind, _) in DEVICES.items():
        path = await bluez.add_device("hci0", address, kind)
        await bluez.set_rssi(path, RSSI[address])


def _last_by_mac(got: list[Sighting]) -> dict[bytes, Sighting]:
    return {s.mac: s for s in got}


async def test_devices_and_rssi_changes_become_sightings_of_the_right_kind(
    bluez: BluezMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="roadside.agent")
    await bluez.add_adapter("hci0")
    source = BleSource("hci0")
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await eventually(lambda: source.scanning_mode == "active", WAIT_S)
    await _add_and_wiggle(bluez)

    want = {_mac(a): RSSI[a] for a in DEVICES}
    await eventually(
        lambda: {m: s.rssi for m, s in _last_by_mac(got).items()} == want, WAIT_S
    )
    # the mock's AddDevice makes every device public; the fixture sets the real AddressType
    # just after, so only the sightings of the RSSI change carry the device's true kind
    settled = [s for s in got if s.rssi == RSSI[_fmt(s.mac)]]
    kinds = {s.mac: s.address_kind for s in settled}
    assert kinds == {_mac(a): k for a, (_, k) in DEVICES.items()}
    assert {s.radio for s in got} == {RadioKind.BLE} and {s.source for s in got} == {"ble"}

    # through hashing and passes: ids, not MACs, and the kinds kept
    hasher = DeviceHasher(b"s" * 32)
    builder = PassBuilder("det-1")
    for s in settled:
        builder.add(hasher.device_id(s.mac, s.t_ns), s.t_ns, s.rssi, s.radio, s.address_kind)
    passes = builder.flush()
    assert {p.address_kind for p in passes} == {k for _, k in DEVICES.values()}
    assert {p.peak_rssi for p in passes} == set(RSSI.values())
    for p in passes:
        assert all(_mac(a).hex() not in p.device_id for a in DEVICES)

    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    agent_logs = "\n".join(r.getMessage() for r in caplog.records
                           if r.name.startswith("roadside.agent"))
    assert "scanning (active)" in agent_logs
    assert not find_macs(agent_logs.encode(), [_mac(a) for a in DEVICES])


def _fmt(mac: bytes) -> str:
    return ":".join(f"{b:02X}" for b in mac)


async def test_adapter_removed_and_back_the_source_recovers(bluez: BluezMock) -> None:
    await bluez.add_adapter("hci0")
    source = BleSource("hci0")
    source.check_interval_s = 0.05
    got: list[Sighting] = []
    sup = Supervisor([source], got.append, None, backoff_initial_s=0.05, backoff_max_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    await eventually(lambda: source.scanning_mode == "active", WAIT_S)
    path = await bluez.add_device("hci0", "00:1A:7D:DA:71:13", "public")
    await bluez.set_rssi(path, -40)
    await eventually(lambda: any(s.rssi == -40 for s in got), WAIT_S)

    await bluez.remove_adapter("hci0")  # unplugged
    await eventually(lambda: sup.status()[0].restarts >= 2, WAIT_S)
    assert "hci0" in sup.status()[0].last_error

    source.scanning_mode = ""
    await bluez.add_adapter("hci0")  # plugged back in
    await eventually(lambda: source.scanning_mode == "active", WAIT_S)
    path = await bluez.add_device("hci0", "C4:00:00:00:00:2A", "random")
    await bluez.set_rssi(path, -41)
    await eventually(lambda: any(s.rssi == -41 for s in got), WAIT_S)
    assert sup.status()[0].state == "running"
    stop.set()
    await asyncio.wait_for(task, WAIT_S)


async def test_passive_falls_back_to_active_with_a_log_line(
    bluez: BluezMock, caplog: pytest.LogCaptureFixture
) -> None:
    await bluez.add_adapter("hci0")
    source = BleSource("hci0", passive=True)
    got: list[Sighting] = []
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="roadside.agent.sources.ble"):
        task = asyncio.create_task(source.run(got.append, stop))
        await eventually(lambda: source.scanning_mode == "active", WAIT_S)
    assert any("passive scanning not supported" in r.getMessage() for r in caplog.records)
    path = await bluez.add_device("hci0", "00:1A:7D:DA:71:13", "public")
    await bluez.set_rssi(path, -45)
    await eventually(lambda: any(s.rssi == -45 for s in got), WAIT_S)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)


async def test_missing_adapter_is_a_source_error(bluez: BluezMock) -> None:
    await bluez.add_adapter("hci0")
    with pytest.raises(SourceError, match="hci1: adapter gone"):
        await asyncio.wait_for(BleSource("hci1").run(lambda _s: None, asyncio.Event()), WAIT_S)
