"""A serial port read in a thread of its own, whose chunks arrive on the event loop.

Opening fails, a read fails, or the port vanishes: SourceError, and the supervisor retries
with backoff. What is read holds raw MACs: it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import serial

from roadside.agent.sources.base import SourceError

READ_TIMEOUT_S = 0.2  # pyserial read timeout: how often the reader thread checks for stop
WRITE_TIMEOUT_S = 2.0
JOIN_TIMEOUT_S = 2.0

_Item = bytes | BaseException | None  # a chunk, the reader's failure, or stop


class SerialLink:
    """`async with SerialLink(port, baud, name) as link`: `await link.read()` a chunk (None
    once stopped), `await link.write(data)`."""

    def __init__(self, port: str, baud: int, name: str, stop: asyncio.Event) -> None:
        self.port, self.baud, self.name = port, baud, name
        self._stop = stop
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._quit = threading.Event()
        self._serial: serial.Serial | None = None
        self._thread: threading.Thread | None = None
        self._stopper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SerialLink:
        try:
            self._serial = await asyncio.to_thread(
                serial.Serial, self.port, self.baud, timeout=READ_TIMEOUT_S,
                write_timeout=WRITE_TIMEOUT_S, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SourceError(f"serial port {self.port}: cannot open: {exc}") from exc
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=_read, args=(self._serial, self._queue, loop, self._quit),
            name=f"{self.name}-reader", daemon=True)
        self._thread.start()
        self._stopper = asyncio.create_task(self._stop_to_queue(), name=f"{self.name}-stop")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._stopper is not None:
            self._stopper.cancel()
        self._quit.set()
        await asyncio.to_thread(self._close)

    async def read(self, timeout_s: float | None = None) -> bytes | None:
        """The next chunk; None once stopped; b"" when `timeout_s` passed without one."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return b""
        if isinstance(item, BaseException):
            raise SourceError(f"serial port {self.port}: {item}") from item
        if item is None:
            self._queue.put_nowait(None)  # stays stopped
        return item

    async def write(self, data: bytes) -> None:
        assert self._serial is not None
        try:
            await asyncio.to_thread(self._serial.write, data)
        except (serial.SerialException, OSError) as exc:
            raise SourceError(f"serial port {self.port}: write failed: {exc}") from exc

    async def _stop_to_queue(self) -> None:
        await self._stop.wait()
        self._queue.put_nowait(None)

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()


def _read(port: serial.Serial, queue: asyncio.Queue[_Item], loop: asyncio.AbstractEventLoop,
          quit_reader: threading.Event) -> None:
    try:
        while not quit_reader.is_set():
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
    except (serial.SerialException, OSError, TypeError) as exc:
        # pyserial raises TypeError when the port is closed under it
        if not quit_reader.is_set():
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(queue.put_nowait, exc)
