"""WiFi probe requests from a monitor-mode interface, with channel hopping via `iw`.

scapy's capture socket (conf.L2listen) with a BPF filter for probe requests delivers raw
frames to a reader thread, which parses them with dot11.py (not scapy's dissection) and
hands sightings to the event loop in batches. A ChannelHopper task walks the channel plan
with `iw dev IFACE set channel N`. Locally administered transmitters come out as
AddressKind.WIFI_LOCAL (randomized), which the privacy policy tags.
"""

from __future__ import annotations

import asyncio
import logging
import select
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from roadside.agent.model import RadioKind, Sighting
from roadside.agent.privacy import wifi_address_kind
from roadside.agent.sources import dot11
from roadside.agent.sources.base import Emit, SourceError, stopped_within

log = logging.getLogger(__name__)

PROBE_REQ_FILTER = "type mgt subtype probe-req"
IW_TIMEOUT_S = 5.0  # one `iw ... set channel` call
MAX_HOP_FAILURES = 5  # consecutive failed channel switches before the source gives up
READ_TIMEOUT_S = 0.25  # reader thread: how often it checks for stop
JOIN_TIMEOUT_S = 2.0
BATCH_FRAMES = 256  # sightings handed to the loop at once, at most
SYSFS_NET = Path("/sys/class/net")
_ARPHRD_LINKTYPE = {803: dot11.LINKTYPE_RADIOTAP, 801: dot11.LINKTYPE_IEEE802_11}


class Capture(Protocol):
    """Raw frames from somewhere: a live socket, or a file in tests."""

    linktype: int

    def read(self, timeout: float) -> tuple[bytes, float | None] | None:
        """(frame, capture time in s or None) or None when nothing came within `timeout`."""
        ...

    def close(self) -> None: ...


class ScapyCapture:
    """scapy's L2 listen socket on the interface, BPF-filtered to probe requests."""

    def __init__(self, interface: str) -> None:
        from scapy.config import conf  # scapy is slow to import: only when capturing

        try:
            arphrd = int((SYSFS_NET / interface / "type").read_text())
        except (OSError, ValueError) as exc:
            raise SourceError(f"wifi {interface}: no such interface") from exc
        if arphrd not in _ARPHRD_LINKTYPE:
            raise SourceError(
                f"wifi {interface}: not in monitor mode (ARPHRD {arphrd}, want 803 radiotap)"
            )
        self.linktype = _ARPHRD_LINKTYPE[arphrd]
        try:
            self._sock: Any = conf.L2listen(iface=interface, filter=PROBE_REQ_FILTER)
        except (OSError, PermissionError) as exc:
            raise SourceError(f"wifi {interface}: cannot capture: {exc}") from exc

    def read(self, timeout: float) -> tuple[bytes, float | None] | None:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return None
        _cls, data, ts = self._sock.recv_raw()
        return (data, ts) if data else None

    def close(self) -> None:
        self._sock.close()


class ChannelHopper:
    """Walks the channel plan: `iw dev IFACE set channel N`, then `dwell_s` on it."""

    def __init__(
        self, interface: str, channels: Sequence[int], dwell_s: float, iw: str = "iw"
    ) -> None:
        self.interface = interface
        self.channels = tuple(channels)
        self.dwell_s = dwell_s
        self.iw = iw
        self.current: int | None = None
        self.failures = 0  # consecutive

    async def run(self, stop: asyncio.Event, start: int = 0) -> None:
        """Hop until `stop`, beginning with the channel at index `start` of the plan."""
        if not self.channels or (len(self.channels) == 1 and start >= 1):
            await stop.wait()  # nothing (more) to switch
            return
        index = start % len(self.channels)
        while not stop.is_set():
            await self.set_channel(self.channels[index])
            if len(self.channels) == 1:
                await stop.wait()
                return
            if await stopped_within(stop, self.dwell_s):
                return
            index = (index + 1) % len(self.channels)

    async def set_channel(self, channel: int) -> None:
        iw = shutil.which(self.iw)
        if iw is None:
            raise SourceError(f"wifi: `{self.iw}` not found (apt install iw)")
        args = [iw, "dev", self.interface, "set", "channel", str(channel)]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), IW_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            err, rc = b"timed out", -1
        else:
            rc = proc.returncode if proc.returncode is not None else -1
        if rc == 0:
            self.current = channel
            self.failures = 0
            return
        self.failures += 1
        log.warning(
            "wifi %s: cannot set channel %d: %s", self.interface, channel,
            err.decode(errors="replace").strip() or f"exit {rc}",
        )
        if self.failures >= MAX_HOP_FAILURES:
            raise SourceError(
                f"wifi {self.interface}: {self.failures} channel switches failed in a row"
            )


class WifiSource:
    def __init__(
        self,
        interface: str = "wlan1mon",
        channels: Sequence[int] = (1, 6, 11),
        dwell_s: float = 0.25,
        name: str = "wifi",
        capture: Callable[[str], Capture] = ScapyCapture,
        iw: str = "iw",
    ) -> None:
        self.name = name
        self.interface = interface
        self.hopper = ChannelHopper(interface, channels, dwell_s, iw)
        self.frames = 0
        self.skipped: Counter[str] = Counter()
        self._open = capture

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        cap = await asyncio.to_thread(self._open, self.interface)
        loop = asyncio.get_running_loop()
        failed: list[BaseException] = []
        quit_reader = threading.Event()
        mine = asyncio.Event()  # stops the hopper when the reader fails

        def deliver(batch: list[Sighting]) -> None:
            for s in batch:
                emit(s)

        def reader_failed(exc: BaseException) -> None:
            failed.append(exc)
            mine.set()

        reader = threading.Thread(
            target=self._read, args=(cap, loop, deliver, reader_failed, quit_reader),
            name=f"{self.name}-reader", daemon=True,
        )
        relay = asyncio.create_task(_relay(stop, mine), name=f"{self.name}-stop")
        try:
            if self.hopper.channels:  # frames heard from now on have a known channel
                await self.hopper.set_channel(self.hopper.channels[0])
            reader.start()
            await self.hopper.run(mine, start=1)
            await mine.wait()
            if failed:
                raise SourceError(f"wifi {self.interface}: capture failed: {failed[0]}") from (
                    failed[0]
                )
        finally:
            relay.cancel()
            quit_reader.set()
            if reader.is_alive():
                await asyncio.to_thread(reader.join, JOIN_TIMEOUT_S)
            await asyncio.to_thread(cap.close)

    def _read(
        self,
        cap: Capture,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[Sighting]], None],
        failed: Callable[[BaseException], None],
        quit_reader: threading.Event,
    ) -> None:
        """Reader thread: frames -> parsed sightings -> the loop, in batches."""
        parse = (
            dot11.parse_radiotap_probe
            if cap.linktype == dot11.LINKTYPE_RADIOTAP
            else dot11.parse_bare_probe
        )
        batch: list[Sighting] = []
        try:
            while not quit_reader.is_set():
                got = cap.read(0 if batch else READ_TIMEOUT_S)
                if got is None or len(batch) >= BATCH_FRAMES:
                    if batch:
                        loop.call_soon_threadsafe(deliver, batch)
                        batch = []
                    if got is None:
                        continue
                data, ts = got
                self.frames += 1
                probe = parse(data)
                if isinstance(probe, str):
                    self.skipped[probe] += 1
                    continue
                t_ns = int(ts * 1e9) if ts else time.time_ns()
                mac = probe.mac
                batch.append(Sighting(
                    mac, t_ns, probe.rssi, RadioKind.WIFI, wifi_address_kind(mac), self.name,
                    probe.channel or self.hopper.current,
                ))
        except (OSError, EOFError, ValueError) as exc:
            if not quit_reader.is_set():
                loop.call_soon_threadsafe(failed, exc)


async def _relay(stop: asyncio.Event, mine: asyncio.Event) -> None:
    await stop.wait()
    mine.set()
