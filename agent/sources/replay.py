"""Replay pcap/pcapng captures as a source: the same sightings a live radio would give.

Several files are merged by time. Timing is kept (scaled by `speed`) or ignored (`FAST`).
`shift_to_now` moves every time by a whole number of days, the most that lets the capture
end by the time playback ends (with FAST: by the start): times of day, and so epoch
boundaries and rush hours, stay as captured, and the same replay started again the same
day gets the same times (and so the same pass ids: a restarted replay writes nothing
twice). Reading and parsing run in a worker thread, in chunks.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from roadside.agent.model import RadioKind, Sighting
from roadside.agent.privacy import ble_address_kind, wifi_address_kind
from roadside.agent.sources import btle, dot11
from roadside.agent.sources.base import Emit, SourceError, stopped_within
from roadside.agent.sources.capfile import CaptureReader, Frame, total_size
from roadside.common.iters import batched

log = logging.getLogger(__name__)

FAST: Final = "fast"
CHUNK_FRAMES = 2048  # frames parsed per trip to the worker thread
UNSUPPORTED_LINKTYPE = "unsupported_linktype"
DAY_NS = 86_400 * 1_000_000_000


def whole_day_shift(now_ns: int, first_ns: int, last_ns: int, speed: float) -> int:
    """Whole days that move a capture spanning first..last to end by the end of playback."""
    play_ns = 0 if speed == math.inf else int((last_ns - first_ns) / speed)
    return (now_ns + play_ns - last_ns) // DAY_NS * DAY_NS


@dataclass(frozen=True, slots=True)
class ReplayStats:
    files: int
    frames_read: int
    sightings: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> frames (or records)
    finished: bool = False
    bytes_read: int = 0  # of the files, consumed so far (for a progress fraction)
    bytes_total: int = 0  # the files' sizes together; 0 until the replay starts


def sighting_from_frame(frame: Frame, source: str, offset_ns: int = 0) -> Sighting | str:
    """One captured frame -> a Sighting, or the reason it gives none."""
    lt = frame.linktype
    if lt == dot11.LINKTYPE_RADIOTAP:
        got = dot11.probe_fields(frame.data)
        if isinstance(got, str):
            return got
        mac, rssi, freq = got
        return Sighting(
            mac, frame.t_ns + offset_ns, rssi, RadioKind.WIFI, wifi_address_kind(mac), source,
            dot11.channel_of(freq),
        )
    if lt == dot11.LINKTYPE_IEEE802_11:
        probe = dot11.parse_bare_probe(frame.data)
        if isinstance(probe, str):
            return probe
        return Sighting(
            probe.mac, frame.t_ns + offset_ns, None, RadioKind.WIFI,
            wifi_address_kind(probe.mac), source, None,
        )
    parser = btle.PARSERS.get(lt)
    if parser is None:
        return UNSUPPORTED_LINKTYPE
    adv = parser(frame.data)
    if isinstance(adv, str):
        return adv
    return Sighting(
        adv.mac, frame.t_ns + offset_ns, adv.rssi, RadioKind.BLE,
        ble_address_kind(adv.mac, adv.random), source, adv.channel,
    )


class ReplaySource:
    """Source over capture files. `finished` is set once every frame has been emitted."""

    silence_limit_s: float | None = None  # gaps are part of the capture: no watchdog
    event_time = True  # status rates count the capture's own time, not wall time

    def __init__(
        self,
        files: Sequence[str | Path],
        speed: float | Literal["fast"] = 1.0,
        shift_to_now: bool = False,
        name: str = "replay",
    ) -> None:
        if not files:
            raise SourceError("replay: no capture files given")
        if speed != FAST and (not isinstance(speed, (int, float)) or not speed > 0):
            raise SourceError(f"replay: speed must be > 0 or 'fast', got {speed!r}")
        self.name = name
        self.files = [Path(f) for f in files]
        self.speed = math.inf if speed == FAST else float(speed)
        self.shift_to_now = shift_to_now
        self.finished = asyncio.Event()
        self._readers: list[CaptureReader] = []
        self._skipped: Counter[str] = Counter()
        self._sightings = 0
        self._bytes_total = 0

    def stats(self) -> ReplayStats:
        skipped = Counter(self._skipped)
        for r in self._readers:
            skipped.update(r.skipped)
        return ReplayStats(
            files=len(self.files),
            frames_read=sum(r.frames_read for r in self._readers),
            sightings=self._sightings,
            skipped=dict(skipped),
            finished=self.finished.is_set(),
            bytes_read=sum(r.bytes_read for r in self._readers),
            bytes_total=self._bytes_total,
        )

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self._readers = [CaptureReader(f) for f in self.files]
        self._skipped = Counter()
        self._sightings = 0
        self._bytes_total = await asyncio.to_thread(total_size, self.files)
        offset_ns = 0
        if self.shift_to_now:
            offset_ns = await asyncio.to_thread(self._shift_offset, time.time_ns())
        loop = asyncio.get_running_loop()
        chunks = self._chunks(offset_ns)
        wall0: float | None = None
        t0 = 0
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            if stop.is_set():
                return
            for s in chunk:
                if self.speed != math.inf:
                    if wall0 is None:
                        wall0, t0 = loop.time(), s.t_ns
                    delay = wall0 + (s.t_ns - t0) / 1e9 / self.speed - loop.time()
                    if delay > 0 and await stopped_within(stop, delay):
                        return
                emit(s)
                self._sightings += 1
        st = self.stats()
        log.info(
            "replay finished: %d files, %d frames, %d sightings, skipped %s",
            st.files, st.frames_read, st.sightings, st.skipped or "none",
        )
        self.finished.set()

    def _merged(self) -> Iterator[Frame]:
        return heapq.merge(*(r.frames() for r in self._readers), key=lambda f: f.t_ns)

    def _chunks(self, offset_ns: int) -> Iterator[list[Sighting]]:
        return batched(self._kept(offset_ns), CHUNK_FRAMES)

    def _kept(self, offset_ns: int) -> Iterator[Sighting]:
        """The merged frames' sightings; each frame left out counts under its reason."""
        skipped = self._skipped
        for frame in self._merged():
            s = sighting_from_frame(frame, self.name, offset_ns)
            if isinstance(s, str):
                skipped[s] += 1
                continue
            yield s

    def _shift_offset(self, now_ns: int) -> int:
        """Offset that makes the last frame land at the end of playback."""
        first = last = None
        for r in (CaptureReader(f) for f in self.files):
            for frame in r.frames():
                first = frame.t_ns if first is None else min(first, frame.t_ns)
                last = frame.t_ns if last is None else max(last, frame.t_ns)
        if first is None or last is None:
            return 0
        return whole_day_shift(now_ns, first, last, self.speed)

