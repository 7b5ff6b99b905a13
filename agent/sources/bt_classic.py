"""Bluetooth Classic (BR/EDR) inquiry through BlueZ, with each device's Class of Device.

Its own D-Bus connection asks BlueZ for discovery with the filter Transport=bredr (BlueZ
merges the filters of its clients: beside the BLE source's scan the adapter interleaves LE
scanning and BR/EDR inquiry) and follows the adapter's Device1 objects: every inquiry
result (an RSSI update) of a device with a Class property becomes a sighting, address kind
bt_bredr (a BD_ADDR is public and never rotates), its class decoded (classify). Car audio
and hands-free kits ride in vehicles; phones, headsets, wearables with people. Raw
addresses stay in memory and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from roadside.agent.model import AddressKind, DeviceClass, RadioKind, Sighting
from roadside.agent.sources import bluez
from roadside.agent.sources.base import Emit, SourceError

log = logging.getLogger(__name__)

DEVICE = "org.bluez.Device1"
PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECTS = "org.freedesktop.DBus.ObjectManager"

# Class of Device (Bluetooth Assigned Numbers, Baseband): bits 8-12 major, 2-7 minor class
MAJOR_COMPUTER, MAJOR_PHONE, MAJOR_AUDIO_VIDEO, MAJOR_WEARABLE, MAJOR_HEALTH = 1, 2, 4, 7, 9
AV_HEADSET, AV_HANDS_FREE, AV_HEADPHONES, AV_PORTABLE, AV_CAR_AUDIO = 1, 2, 6, 7, 8
VEHICLE_AV = frozenset({AV_HANDS_FREE, AV_CAR_AUDIO})
PERSON_AV = frozenset({AV_HEADSET, AV_HEADPHONES, AV_PORTABLE})
COMPUTER_HANDHELD, COMPUTER_PALM, COMPUTER_WEARABLE = 4, 5, 6


def classify(cod: int) -> DeviceClass:
    """A Class of Device -> vehicle, person or other."""
    major, minor = (cod >> 8) & 0x1F, (cod >> 2) & 0x3F
    if major == MAJOR_AUDIO_VIDEO and minor in VEHICLE_AV:
        return DeviceClass.VEHICLE
    if major in (MAJOR_PHONE, MAJOR_WEARABLE, MAJOR_HEALTH):
        return DeviceClass.PERSON
    if major == MAJOR_AUDIO_VIDEO and minor in PERSON_AV:
        return DeviceClass.PERSON
    if major == MAJOR_COMPUTER and minor in (COMPUTER_HANDHELD, COMPUTER_PALM, COMPUTER_WEARABLE):
        return DeviceClass.PERSON
    return DeviceClass.OTHER


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Variant) else v


class BtClassicSource:
    def __init__(self, adapter: str = "hci0", name: str = "bt_classic") -> None:
        self.name = name
        self.adapter = adapter
        self.check_interval_s = bluez.ADAPTER_CHECK_S
        self.inquiry_results = 0
        self._devices: dict[str, dict[str, Any]] = {}  # object path -> Device1 properties

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        bus = await bluez.connect_bus("bt_classic")
        prefix = f"/org/bluez/{self.adapter}/"

        def on_message(msg: Message) -> None:
            if msg.message_type != MessageType.SIGNAL or not msg.body:
                return
            if (msg.member == "PropertiesChanged" and msg.body[0] == DEVICE
                    and (msg.path or "").startswith(prefix)):
                self._changed(str(msg.path), msg.body[1], emit)
            elif (msg.member == "InterfacesAdded" and str(msg.body[0]).startswith(prefix)
                    and DEVICE in msg.body[1]):  # sent from the object manager, at "/"
                self._changed(msg.body[0], msg.body[1][DEVICE], emit)

        try:
            await bluez.check_adapter(bus, self.adapter, "bt_classic")
            bus.add_message_handler(on_message)
            for rule in (f"type='signal',interface='{PROPERTIES}',member='PropertiesChanged',"
                         f"arg0='{DEVICE}'",
                         f"type='signal',interface='{OBJECTS}',member='InterfacesAdded'"):
                await self._call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "AddMatch", "s", [rule])
            await self._known(bus, prefix)
            path = f"/org/bluez/{self.adapter}"
            await self._call(bus, "org.bluez", path, "org.bluez.Adapter1", "SetDiscoveryFilter",
                             "a{sv}", [{"Transport": Variant("s", "bredr")}])
            await self._call(bus, "org.bluez", path, "org.bluez.Adapter1", "StartDiscovery")
            log.info("bt_classic %s: inquiry (BR/EDR discovery) running", self.adapter)
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.check_interval_s)
                    if not stop.is_set():
                        await bluez.check_adapter(bus, self.adapter, "bt_classic")
            finally:
                with contextlib.suppress(SourceError):
                    await self._call(bus, "org.bluez", path, "org.bluez.Adapter1",
                                     "StopDiscovery")
        finally:
            bus.disconnect()

    def _changed(self, path: str, props: dict[str, Any], emit: Emit) -> None:
        known = self._devices.setdefault(path, {})
        known.update({k: _value(v) for k, v in props.items()})
        if "RSSI" not in props:  # an inquiry result carries an RSSI: nothing else counts
            return
        cod, address = known.get("Class"), known.get("Address")
        if not cod or not isinstance(address, str):
            return  # no Class of Device: an LE-only device, the BLE source's
        try:
            mac = bytes.fromhex(address.replace(":", ""))
        except ValueError:
            return
        if len(mac) != 6:
            return
        self.inquiry_results += 1
        emit(Sighting(mac, time.time_ns(), known.get("RSSI"), RadioKind.BT_CLASSIC,
                      AddressKind.BT_BREDR, self.name, None, classify(int(cod))))

    async def _known(self, bus: MessageBus, prefix: str) -> None:
        """The devices BlueZ knows already (their properties; no sightings yet)."""
        (objects,) = await self._call(bus, "org.bluez", "/", OBJECTS, "GetManagedObjects")
        for path, interfaces in objects.items():
            if path.startswith(prefix) and DEVICE in interfaces:
                self._devices[path] = {k: _value(v) for k, v in interfaces[DEVICE].items()}

    async def _call(self, bus: MessageBus, destination: str, path: str, interface: str,
                    member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        try:
            reply = await asyncio.wait_for(bus.call(Message(
                destination=destination, path=path, interface=interface, member=member,
                signature=signature, body=body or [])), bluez.DBUS_TIMEOUT_S)
        except (TimeoutError, EOFError, OSError, DBusError) as exc:
            raise SourceError(f"bt_classic {self.adapter}: {member}: {exc!r}") from exc
        if reply is None or reply.message_type == MessageType.ERROR:
            why = reply.error_name if reply is not None else "no reply"
            raise SourceError(f"bt_classic {self.adapter}: {member} refused ({why})")
        return reply.body
