"""pcap and pcapng reading with struct: frames as (t_ns, linktype, bytes).

Both byte orders; pcap with micro- or nanosecond timestamps; pcapng sections with SHB, IDB
(per-interface link type, if_tsresol, if_tsoffset), EPB, SPB and the obsolete PB. A truncated
or corrupt file yields its good frames; every timestamp is range-checked (MIN_T_NS ..
MAX_T_NS: a record outside is skipped); what could not be read is counted by reason in
`CaptureReader.skipped` and no exception escapes `frames()`. `bytes_read` follows how far
into the file the frames handed out so far reach (the whole size once `frames()` is done),
for progress displays.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1 << 20  # a record claiming more is corrupt

# skip reasons
UNREADABLE = "unreadable_file"
NOT_A_CAPTURE = "not_a_capture"
TRUNCATED = "truncated_record"
CORRUPT = "corrupt_record"
NO_INTERFACE = "unknown_interface"
BAD_TIMESTAMP = "bad_timestamp"
# the reasons that mean part of a file could not be read (not: a frame of no interest)
DAMAGE = (UNREADABLE, NOT_A_CAPTURE, TRUNCATED, CORRUPT, NO_INTERFACE, BAD_TIMESTAMP)

NS_PER_S = 1_000_000_000
MIN_T_NS = 631_152_000 * NS_PER_S  # 1990-01-01T00:00:00Z: earlier is a broken clock
MAX_T_NS = 4_102_444_800 * NS_PER_S  # 2100-01-01T00:00:00Z

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


def valid_time(t_ns: int) -> bool:
    return MIN_T_NS <= t_ns < MAX_T_NS
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14


class Frame(NamedTuple):
    """One captured frame. A NamedTuple: made once per frame, twice as fast as a dataclass."""

    t_ns: int  # unix nanoseconds
    linktype: int
    data: bytes  # holds raw MACs: kept out of repr

    def __repr__(self) -> str:
        return f"Frame(t_ns={self.t_ns}, linktype={self.linktype}, {len(self.data)} bytes)"


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units_per_s: int = 1_000_000  # default resolution: microseconds
    offset_s: int = 0

    def t_ns(self, ticks: int) -> int:
        if self.units_per_s == 1_000_000_000:
            ns = ticks
        else:
            ns = ticks * 1_000_000_000 // self.units_per_s
        return ns + self.offset_s * 1_000_000_000


def total_size(paths: Iterable[str | Path]) -> int:
    """Bytes in these files together (0 for one that cannot be read). Blocking."""
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError:
            pass
    return total


class CaptureReader:
    """One capture file. Iterate `frames()`; then read `frames_read`, `skipped`, `bytes_read`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames_read = 0
        self.bytes_read = 0  # bytes of the file consumed so far (updated as frames go out)
        self.skipped: Counter[str] = Counter()

    def frames(self) -> Iterator[Frame]:
        """The file's frames in file order. Never raises for bad content."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            log.warning("capture %s: cannot open: %s", self.path, exc.strerror)
            self.skipped[UNREADABLE] += 1
            return
        size = 0
        try:
            size = os.fstat(fd).st_size
            if size < 4:
                self.skipped[NOT_A_CAPTURE] += 1
            else:
                with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as buf:
                    if buf[:4] in PCAP_MAGIC:
                        yield from self._pcap(buf)
                    elif struct.unpack_from("<I", buf, 0)[0] == _PCAPNG_SHB:
                        yield from self._pcapng(buf)
                    else:
                        self.skipped[NOT_A_CAPTURE] += 1
        except OSError as exc:
            log.warning("capture %s: read failed: %s", self.path, exc.strerror)
            self.skipped[UNREADABLE] += 1
        finally:
            os.close(fd)
        self.bytes_read = size  # all of it is dealt with: what was not read is in `skipped`

    # --- pcap -------------------------------------------------------------------------

    def _pcap(self, buf: mmap.mmap) -> Iterator[Frame]:
        order, ns_per_unit = PCAP_MAGIC[buf[:4]]
        if len(buf) < 24:
            self.skipped[TRUNCATED] += 1
            return
        linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0xFFFF
        record = struct.Struct(order + "IIII")
        pos, end = 24, len(buf)
        while pos < end:
            if pos + 16 > end:
                self.skipped[TRUNCATED] += 1
                return
            sec, frac, incl, _orig = record.unpack_from(buf, pos)
            if incl > MAX_FRAME_BYTES:
                self.skipped[CORRUPT] += 1
                log.warning("capture %s: corrupt record at byte %d, rest unread", self.path, pos)
                return
            pos += 16
            if pos + incl > end:
                self.skipped[TRUNCATED] += 1
                return
            self.bytes_read = pos + incl
            t_ns = sec * NS_PER_S + frac * ns_per_unit
            if frac * ns_per_unit >= NS_PER_S or not valid_time(t_ns):
                self.skipped[BAD_TIMESTAMP] += 1
            else:
                self.frames_read += 1
                yield Frame(t_ns, linktype, buf[pos : pos + incl])
            pos += incl

    # --- pcapng -----------------------------------------------------------------------

    def _pcapng(self, buf: mmap.mmap) -> Iterator[Frame]:
        pos, end = 0, len(buf)
        order = "<"
        interfaces: list[_Interface] = []
        last_t = 0
        while pos < end:
            if pos + 12 > end:
                self.skipped[TRUNCATED] += 1
                return
            btype = struct.unpack_from(order + "I", buf, pos)[0]
            if btype == _PCAPNG_SHB:
                if pos + 12 > end:
                    self.skipped[TRUNCATED] += 1
                    return
                bom = buf[pos + 8 : pos + 12]
                if struct.unpack("<I", bom)[0] == _PCAPNG_BOM:
                    order = "<"
                elif struct.unpack(">I", bom)[0] == _PCAPNG_BOM:
                    order = ">"
                else:
                    self.skipped[CORRUPT] += 1
                    return
                interfaces = []  # a new section starts afresh
            blen = struct.unpack_from(order + "I", buf, pos + 4)[0]
            if blen < 12 or blen % 4:
                self.skipped[CORRUPT] += 1
                log.warning("capture %s: corrupt block at byte %d, rest unread", self.path, pos)
                return
            if pos + blen > end:
                self.skipped[TRUNCATED] += 1
                return
            if struct.unpack_from(order + "I", buf, pos + blen - 4)[0] != blen:
                self.skipped[CORRUPT] += 1
                log.warning("capture %s: corrupt block at byte %d, rest unread", self.path, pos)
                return
            body = buf[pos + 8 : pos + blen - 4]
            pos += blen
            self.bytes_read = pos
            if btype == _IDB:
                iface = _parse_idb(body, order)
                if iface is None:
                    self.skipped[CORRUPT] += 1
                    return
                interfaces.append(iface)
            elif btype in (_EPB, _PB, _SPB):
                frame = self._packet(btype, body, order, interfaces, last_t)
                if frame is not None and not valid_time(frame.t_ns):
                    self.skipped[BAD_TIMESTAMP] += 1
                elif frame is not None:
                    last_t = frame.t_ns
                    self.frames_read += 1
                    yield frame
            # other blocks (name resolution, statistics, custom) carry no frames

    def _packet(
        self, btype: int, body: bytes, order: str, interfaces: list[_Interface], last_t: int
    ) -> Frame | None:
        if btype == _SPB:  # no timestamp: the previous frame's time stands in
            if len(body) < 4 or not interfaces:
                self.skipped[CORRUPT if len(body) < 4 else NO_INTERFACE] += 1
                return None
            iface = interfaces[0]
            orig = struct.unpack_from(order + "I", body, 0)[0]
            caplen = min(orig, len(body) - 4, iface.snaplen or orig)
            return Frame(last_t, iface.linktype, body[4 : 4 + caplen])
        if len(body) < 20:
            self.skipped[CORRUPT] += 1
            return None
        if btype == _EPB:
            if_id, hi, lo, caplen, _orig = struct.unpack_from(order + "IIIII", body, 0)
        else:
            if_id, _drops, hi, lo, caplen, _orig = struct.unpack_from(order + "HHIIII", body, 0)
        if if_id >= len(interfaces):
            self.skipped[NO_INTERFACE] += 1
            return None
        if caplen > len(body) - 20:
            self.skipped[CORRUPT] += 1
            return None
        iface = interfaces[if_id]
        return Frame(iface.t_ns((hi << 32) | lo), iface.linktype, body[20 : 20 + caplen])


def _parse_idb(body: bytes, order: str) -> _Interface | None:
    if len(body) < 8:
        return None
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
    iface = _Interface(linktype, snaplen)
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        value = body[pos + 4 : pos + 4 + length]
        if code == 0:
            break
        if code == _OPT_TSRESOL and length >= 1:
            v = value[0]
            iface.units_per_s = 2 ** (v & 0x7F) if v & 0x80 else 10**v
        elif code == _OPT_TSOFFSET and length >= 8:
            iface.offset_s = struct.unpack_from(order + "q", value, 0)[0]
        pos += 4 + ((length + 3) & ~3)
    return iface
