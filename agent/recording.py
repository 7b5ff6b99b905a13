"""Recordings of hashed sightings: what `agent record` writes and `agent replay` reads back.

A recording holds no raw MAC: every line carries the device id the agent's hasher made
(keyed with the site secret, per epoch), so it is as safe to keep or share as the uploads.
The format is JSON lines; the first line is a header:

    {"format": "roadside-hashed-sightings", "version": 1, "detector_id": "...", ...}
    {"t_ns": 1764250000000000000, "device_id": "<32 hex>", "rssi": -71, "radio": "wifi",
     "address_kind": "wifi_local", "channel": 6, "source": "wifi"}

Replay feeds these past the hasher (RecordedIds passes the id through), so the ids at
central equal the ones a live agent with the same secret would have uploaded.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from roadside.agent.errors import AgentError
from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.privacy import DeviceHasher
from roadside.agent.sources.base import Emit
from roadside.agent.sources.capfile import total_size
from roadside.agent.sources.replay import whole_day_shift
from roadside.common.ids import DEVICE_ID_BYTES

FORMAT = "roadside-hashed-sightings"
VERSION = 1
CHUNK = 1024  # records emitted between yields to the event loop
# skip reasons
BAD_LINE = "bad_record_line"
TRUNCATED_LINE = "truncated_record_line"


class RecordingError(AgentError):
    """A recording cannot be written or is not a recording."""


@dataclass(frozen=True, slots=True)
class HashedSighting:
    t_ns: int
    device_id: str  # 32 lowercase hex
    rssi: int | None
    radio: RadioKind
    address_kind: AddressKind
    source: str
    channel: int | None = None

    def to_line(self) -> bytes:
        return json.dumps({
            "t_ns": self.t_ns, "device_id": self.device_id, "rssi": self.rssi,
            "radio": self.radio.value, "address_kind": self.address_kind.value,
            "channel": self.channel, "source": self.source,
        }, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_json(cls, data: Any) -> HashedSighting:
        """ValueError/KeyError/TypeError when a field is missing or wrong."""
        device_id = str(data["device_id"])
        if len(device_id) != 2 * DEVICE_ID_BYTES or device_id != device_id.lower():
            raise ValueError("device_id")
        bytes.fromhex(device_id)
        rssi = data.get("rssi")
        channel = data.get("channel")
        return cls(
            t_ns=int(data["t_ns"]), device_id=device_id,
            rssi=None if rssi is None else int(rssi),
            radio=RadioKind(data["radio"]), address_kind=AddressKind(data["address_kind"]),
            source=str(data.get("source", "record")),
            channel=None if channel is None else int(channel),
        )

    def sighting(self, source: str, offset_ns: int = 0) -> Sighting:
        """A Sighting whose `mac` field carries the device id (for RecordedIds)."""
        return Sighting(bytes.fromhex(self.device_id), self.t_ns + offset_ns, self.rssi,
                        self.radio, self.address_kind, source, self.channel)


class RecordedIds(DeviceHasher):
    """A 'hasher' for recordings: the sighting already carries its device id."""

    def __init__(self) -> None:
        super().__init__(secrets.token_bytes(32))  # never used: nothing is hashed here

    def device_id(self, mac: bytes, t_ns: int) -> str:
        if len(mac) != DEVICE_ID_BYTES:  # a raw MAC must never pass unhashed
            raise RecordingError("a recorded sighting must carry a 16-byte device id")
        return mac.hex()

    def ids(self, mac: bytes, t_ns: int) -> tuple[str, str | None]:
        return self.device_id(mac, t_ns), None  # recorded ids are final


def is_recording(path: Path) -> bool:
    """True when the file starts with a recording header."""
    try:
        with open(path, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return False
    try:
        return bool(json.loads(first).get("format") == FORMAT)
    except (ValueError, AttributeError):
        return False


class RecordingWriter:
    """Appends hashed sightings to a recording; lines are whole after every `write`."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.records = 0
        try:
            # never overwrite a recording; device ids: only its owner reads it
            self._file: BinaryIO = os.fdopen(
                os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            self._file.write(json.dumps({"format": FORMAT, "version": VERSION, **header},
                                        separators=(",", ":")).encode() + b"\n")
            self._file.flush()
        except FileExistsError:
            raise RecordingError(f"--out {path}: exists; not overwriting it") from None
        except OSError as exc:
            raise RecordingError(f"--out {path}: cannot write: {exc.strerror}") from exc

    def write(self, batch: Sequence[HashedSighting]) -> None:
        """Blocking: call from a worker thread."""
        try:
            self._file.write(b"".join(h.to_line() for h in batch))
            self._file.flush()
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot write: {exc.strerror}") from exc
        self.records += len(batch)

    def close(self) -> None:
        self._file.close()


class RecordingReader:
    """Reads a recording; bad lines are skipped and counted by reason."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames_read = 0
        self.bytes_read = 0  # of the file, consumed so far (for a progress fraction)
        self.skipped: Counter[str] = Counter()

    def records(self) -> Iterator[HashedSighting]:
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot read: {exc.strerror}") from exc
        with f:
            self.bytes_read = len(f.readline())  # the header
            for line in f:
                self.frames_read += 1
                self.bytes_read += len(line)
                if not line.endswith(b"\n"):
                    self.skipped[TRUNCATED_LINE] += 1
                    continue
                try:
                    yield HashedSighting.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.skipped[BAD_LINE] += 1


class RecordingSource:
    """Replays recordings (merged by time) as a source; speed and shift_to_now as replay."""

    silence_limit_s: float | None = None

    def __init__(self, files: Sequence[Path], speed: float | Literal["fast"] = 1.0,
                 shift_to_now: bool = False, name: str = "replay") -> None:
        self.name = name
        self.readers = [RecordingReader(Path(f)) for f in files]
        self.speed = math.inf if speed == "fast" else float(speed)
        self.shift_to_now = shift_to_now
        self.sightings = 0
        self.finished = asyncio.Event()
        self.bytes_total = 0  # the files' sizes together, known once run() starts

    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.readers)

    def skipped(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for r in self.readers:
            total.update(r.skipped)
        return dict(total)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self.bytes_total = await asyncio.to_thread(total_size, [r.path for r in self.readers])
        offset_ns = 0
        if self.shift_to_now:  # the last record lands when playback ends
            first, last = await asyncio.to_thread(self._span_ns)
            offset_ns = whole_day_shift(time.time_ns(), first, last, self.speed) if last else 0
        merged = heapq.merge(*(r.records() for r in self.readers), key=lambda h: h.t_ns)
        loop = asyncio.get_running_loop()
        wall0, t0 = loop.time(), None
        while chunk := await asyncio.to_thread(_take, merged, CHUNK):
            for h in chunk:
                if stop.is_set():
                    return
                if self.speed != math.inf:
                    t0 = h.t_ns if t0 is None else t0
                    delay = wall0 + (h.t_ns - t0) / 1e9 / self.speed - loop.time()
                    if delay > 0:
                        try:
                            await asyncio.wait_for(stop.wait(), delay)
                            return
                        except TimeoutError:
                            pass
                emit(h.sighting(self.name, offset_ns))
                self.sightings += 1
            await asyncio.sleep(0)
        self.finished.set()

    def _span_ns(self) -> tuple[int, int]:
        times = [h.t_ns for r in self.readers for h in RecordingReader(r.path).records()]
        return (min(times), max(times)) if times else (0, 0)


def _take(it: Iterator[HashedSighting], n: int) -> list[HashedSighting]:
    out = []
    for h in it:
        out.append(h)
        if len(out) >= n:
            break
    return out
