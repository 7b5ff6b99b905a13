"""BLE advertisements through bleak's BleakScanner on a chosen BlueZ adapter.

Active scanning by default; passive where BlueZ supports it (advertisement monitors, an
experimental BlueZ feature), otherwise a log line and active scanning. The address kind
comes from BlueZ's AddressType (public / random) and the top bits of random addresses.
The adapter is checked over D-Bus every ADAPTER_CHECK_S: when it is gone or powered off
the source raises SourceError, and the supervisor restarts it with backoff until the
adapter is back. bleak's device objects hold raw MACs: nothing here logs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from dbus_fast.errors import DBusError

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.privacy import ble_address_kind
from roadside.agent.sources import bluez
from roadside.agent.sources.base import Emit, SourceError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0  # BleakScanner.start / stop

# Passive scanning needs at least one or-pattern: these match the Flags values phones and
# wearables send and the manufacturer data of the large phone makers.
_FLAGS = AdvertisementDataType.FLAGS
_MFR = AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA
PASSIVE_PATTERNS: list[OrPattern | tuple[int, AdvertisementDataType, bytes]] = [
    *(OrPattern(0, _FLAGS, bytes([f])) for f in (0x02, 0x06, 0x1A, 0x18, 0x1B)),
    *(OrPattern(0, _MFR, cid.to_bytes(2, "little")) for cid in (0x004C, 0x0006, 0x0075, 0x00E0)),
]


def _address(device: BLEDevice, adv: AdvertisementData) -> tuple[bytes, bool] | None:
    """(address in display order, random?) from BlueZ's current Device1 properties."""
    try:
        mac = bytes.fromhex(device.address.replace(":", ""))
    except ValueError:
        return None
    if len(mac) != 6:
        return None
    # platform_data is (path, props) as of this advertisement; device.details may be older
    data: Any = adv.platform_data
    props = data[1] if isinstance(data, tuple) and len(data) == 2 else {}
    if not isinstance(props, dict):
        props = {}
    if _classic_only(props):
        return None  # a BR/EDR inquiry result: the bt_classic source's
    return mac, props.get("AddressType", "public") == "random"


def _classic_only(props: dict[str, Any]) -> bool:
    """A device with a Class of Device and no LE advertising data was found by inquiry."""
    def value(name: str) -> Any:
        v = props.get(name)
        return getattr(v, "value", v)

    return bool(value("Class")) and not value("ManufacturerData") and not value("ServiceData")


class BleSource:
    def __init__(self, adapter: str = "hci0", passive: bool = False, name: str = "ble") -> None:
        self.name = name
        self.adapter = adapter
        self.passive = passive
        self.check_interval_s = bluez.ADAPTER_CHECK_S
        self.scanning_mode = ""  # what is in use: "active" or "passive"

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            found = _address(device, adv)
            if found is None:
                return
            mac, random = found
            kind = ble_address_kind(mac, random)
            if kind is AddressKind.UNKNOWN:
                return
            emit(Sighting(mac, time.time_ns(), adv.rssi, RadioKind.BLE, kind, self.name))

        bus = await bluez.connect_bus("ble")
        try:
            await bluez.check_adapter(bus, self.adapter, "ble")
            scanner = await self._start(detected)
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.check_interval_s)
                    if not stop.is_set():
                        await bluez.check_adapter(bus, self.adapter, "ble")
            finally:
                with contextlib.suppress(BleakError, DBusError, TimeoutError, EOFError):
                    await asyncio.wait_for(scanner.stop(), START_TIMEOUT_S)
        finally:
            bus.disconnect()

    async def _start(self, detected: Any) -> BleakScanner:
        if self.passive:
            scanner = BleakScanner(
                detected, scanning_mode="passive",
                bluez=BlueZScannerArgs(adapter=self.adapter, or_patterns=PASSIVE_PATTERNS),
            )
            try:
                await asyncio.wait_for(scanner.start(), START_TIMEOUT_S)
            except (BleakError, DBusError, TimeoutError) as exc:
                log.warning(
                    "ble %s: passive scanning not supported by BlueZ here (%s): scanning actively",
                    self.adapter, exc,
                )
            else:
                self.scanning_mode = "passive"
                return scanner
        scanner = BleakScanner(
            detected, scanning_mode="active", bluez=BlueZScannerArgs(adapter=self.adapter)
        )
        try:
            await asyncio.wait_for(scanner.start(), START_TIMEOUT_S)
        except (BleakError, DBusError, TimeoutError, EOFError, OSError) as exc:
            raise SourceError(f"ble {self.adapter}: cannot start scanning: {exc}") from exc
        self.scanning_mode = "active"
        log.info("ble %s: scanning (%s)", self.adapter, self.scanning_mode)
        return scanner
