"""A sniffer board on a serial port (ESP32 WiFi / nRF BLE) as a source.

pyserial is read in a thread of its own, which hands whole lines to the event loop. At
start the agent does the handshake and sends the profile's settings (PROTOCOL.md); a port
that cannot be opened, a board that does not answer, or a port that vanishes raises
SourceError, and the supervisor retries with backoff. Garbage lines are counted by reason
and skipped. Received lines hold raw MACs: they are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter

import serial

from roadside.agent.model import RadioKind, Sighting
from roadside.agent.privacy import ble_address_kind, wifi_address_kind
from roadside.agent.sources.base import Emit, SourceError
from roadside.agent.sources.serial_protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    Reading,
    Reply,
    SerialProfile,
    encode,
    parse_line,
)

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 2.0  # the board answers each command within this
READ_TIMEOUT_S = 0.2  # pyserial read timeout: how often the reader thread checks for stop
WRITE_TIMEOUT_S = 2.0
JOIN_TIMEOUT_S = 2.0
CLOCK_JUMP_NS = 2_000_000_000  # re-fix the board clock offset beyond this

_Item = bytes | BaseException | None  # a line, the reader's failure, or stop


class SerialSource:
    def __init__(self, port: str, baud: int, profile: SerialProfile, name: str = "serial") -> None:
        self.name = name
        self.port = port
        self.baud = baud
        self.profile = profile
        self.lines = 0
        self.garbage: Counter[str] = Counter()
        self.board = ""  # board name and firmware from the handshake
        self._offset_ns: int | None = None
        self._last_ms = 0

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        try:
            port = await asyncio.to_thread(self._open)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SourceError(f"serial port {self.port}: cannot open: {exc}") from exc
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        quit_reader = threading.Event()
        reader = threading.Thread(
            target=_read_lines, args=(port, queue, loop, quit_reader),
            name=f"{self.name}-reader", daemon=True,
        )
        reader.start()
        stopper = asyncio.create_task(_stop_to_queue(stop, queue), name=f"{self.name}-stop")
        try:
            await self._handshake(port, queue)
            log.info("serial %s: %s ready on %s", self.name, self.board, self.port)
            self._offset_ns = None
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise SourceError(f"serial port {self.port}: {item}") from item
                sighting = self._sighting(item)
                if sighting is not None:
                    emit(sighting)
        finally:
            stopper.cancel()
            quit_reader.set()
            with contextlib.suppress(serial.SerialException, OSError):
                await asyncio.wait_for(asyncio.to_thread(port.write, encode("STOP")), 1.0)
            await asyncio.to_thread(_close, port, reader)

    def _open(self) -> serial.Serial:
        return serial.Serial(
            self.port, self.baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S,
            exclusive=True,
        )

    async def _handshake(self, port: serial.Serial, queue: asyncio.Queue[_Item]) -> None:
        hello = await self._command(port, queue, f"HELLO,{PROTOCOL_VERSION}", "H")
        if not hello.fields or hello.fields[0] != str(PROTOCOL_VERSION):
            raise SourceError(f"serial {self.port}: board speaks protocol {hello.fields[:1]}")
        self.board = " ".join(hello.fields[1:3])
        for key, value in self.profile.settings:
            await self._command(port, queue, f"SET,{key},{value}", "OK", key)
        await self._command(port, queue, "START", "OK", "START")

    async def _command(
        self, port: serial.Serial, queue: asyncio.Queue[_Item], body: str, want: str,
        subject: str = "",
    ) -> Reply:
        """Send one command and wait for its answer, skipping anything else meanwhile."""
        try:
            await asyncio.to_thread(port.write, encode(body))
        except (serial.SerialException, OSError) as exc:
            raise SourceError(f"serial port {self.port}: write failed: {exc}") from exc
        command = body.split(",")[0]
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                while True:
                    item = await queue.get()
                    if item is None:
                        raise SourceError(f"serial {self.port}: stopped during {command}")
                    if isinstance(item, BaseException):
                        raise SourceError(f"serial port {self.port}: {item}") from item
                    reply = self._reply(item)
                    if reply is None:
                        continue
                    if reply.kind == "ERR" and reply.fields[:1] == (subject or command,):
                        raise SourceError(
                            f"serial {self.port}: board refused {command} {subject}: "
                            f"{','.join(reply.fields[1:])}"
                        )
                    if reply.kind == want and (not subject or reply.fields[:1] == (subject,)):
                        return reply
        except TimeoutError:
            raise SourceError(
                f"serial {self.port}: no answer to {command} within {REPLY_TIMEOUT_S:g} s"
            ) from None

    def _reply(self, line: bytes) -> Reply | None:
        parsed = self._parse(line)
        return parsed if isinstance(parsed, Reply) else None

    def _parse(self, line: bytes) -> Reading | Reply | None:
        self.lines += 1
        parsed = parse_line(line)
        if isinstance(parsed, str):
            self.garbage[parsed] += 1
            return None
        return parsed

    def _sighting(self, line: bytes) -> Sighting | None:
        reading = self._parse(line)
        if not isinstance(reading, Reading):
            return None
        mac = reading.mac
        if reading.kind == "W":
            radio, kind = RadioKind.WIFI, wifi_address_kind(mac)
        else:
            radio, kind = RadioKind.BLE, ble_address_kind(mac, reading.random)
        return Sighting(
            mac, self._board_time(reading.ms), reading.rssi, radio, kind, self.name,
            reading.channel,
        )

    def _board_time(self, ms: int) -> int:
        """Board milliseconds -> unix ns, offset re-fixed when the board clock jumps."""
        now = time.time_ns()
        board_ns = ms * 1_000_000
        if (
            self._offset_ns is None
            or ms < self._last_ms
            or abs(board_ns + self._offset_ns - now) > CLOCK_JUMP_NS
        ):
            self._offset_ns = now - board_ns
        self._last_ms = ms
        return board_ns + self._offset_ns


async def _stop_to_queue(stop: asyncio.Event, queue: asyncio.Queue[_Item]) -> None:
    await stop.wait()
    queue.put_nowait(None)


def _read_lines(
    port: serial.Serial, queue: asyncio.Queue[_Item], loop: asyncio.AbstractEventLoop,
    quit_reader: threading.Event,
) -> None:
    """Reader thread: whole lines to the loop; an over-long line is cut and sent as garbage."""
    pending = b""
    discarding = False  # inside an over-long line: drop up to its newline
    try:
        while not quit_reader.is_set():
            chunk = port.read(max(1, port.in_waiting))
            if not chunk:
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if discarding and lines:
                lines.pop(0)
                discarding = False
            for line in lines:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            if len(pending) > MAX_LINE and not discarding:
                loop.call_soon_threadsafe(queue.put_nowait, pending)  # counted as too long
                pending, discarding = b"", True
            elif discarding:
                pending = b""
    except (serial.SerialException, OSError, TypeError) as exc:
        # pyserial raises TypeError when the port is closed under it
        if not quit_reader.is_set():
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(queue.put_nowait, exc)


def _close(port: serial.Serial, reader: threading.Thread) -> None:
    reader.join(JOIN_TIMEOUT_S)
    with contextlib.suppress(serial.SerialException, OSError):
        port.close()

