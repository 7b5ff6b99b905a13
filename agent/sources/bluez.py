"""BlueZ over D-Bus, as the Bluetooth sources need it: the system bus, the adapter's state."""

from __future__ import annotations

import asyncio

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from roadside.agent.sources.base import SourceError

DBUS_TIMEOUT_S = 5.0  # connecting to the system bus, one call
ADAPTER_CHECK_S = 2.0  # how often the sources check their adapter is there


async def connect_bus(source: str) -> MessageBus:
    try:
        return await asyncio.wait_for(
            MessageBus(bus_type=BusType.SYSTEM).connect(), DBUS_TIMEOUT_S
        )
    except (OSError, DBusError, TimeoutError, EOFError, ValueError) as exc:
        raise SourceError(f"{source}: D-Bus system bus unreachable: {exc}") from exc


async def check_adapter(bus: MessageBus, adapter: str, source: str) -> None:
    """SourceError unless the adapter exists in BlueZ and is powered."""
    msg = Message(
        destination="org.bluez", path=f"/org/bluez/{adapter}",
        interface="org.freedesktop.DBus.Properties", member="Get",
        signature="ss", body=["org.bluez.Adapter1", "Powered"],
    )
    try:
        reply = await asyncio.wait_for(bus.call(msg), DBUS_TIMEOUT_S)
    except (TimeoutError, EOFError, OSError) as exc:
        raise SourceError(f"{source} {adapter}: BlueZ not answering: {exc!r}") from exc
    if reply is None or reply.message_type == MessageType.ERROR:
        why = reply.error_name if reply is not None else "no reply"
        raise SourceError(f"{source} {adapter}: adapter gone ({why})")
    if not reply.body[0].value:
        raise SourceError(f"{source} {adapter}: adapter powered off")
