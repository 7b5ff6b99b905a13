"""pcap over a byte stream (an ESP32 sniffer on a serial port), parsed as it arrives.

A stream is a pcap global header (any of the four magics: both byte orders, micro- or
nanoseconds), then records. Bytes before the first header (a booting board's text) are
skipped; a record header that cannot be one (longer than the snap length or MAX_RECORD)
means the stream lost its framing or the board restarted, and the parser looks for the next
global header. Pure: no I/O, memory bounded by one record. Frames come out as capfile's
Frame, so replay.sighting_from_frame (the WiFi pipeline's parser) reads them.
"""

from __future__ import annotations

import struct
from collections import Counter

from roadside.agent.sources.capfile import PCAP_MAGIC, Frame

GLOBAL_HEADER = 24
RECORD_HEADER = 16
MAX_RECORD = 65_535

# garbage reasons
LOST_FRAMING = "lost_framing"  # a record header that cannot be one: resynchronising
SKIPPED_BYTES = "skipped_bytes"  # bytes outside any pcap stream (boot text, noise)
NEW_STREAM = "new_stream"  # a global header again (the board restarted)


class PcapStream:
    """feed(bytes) -> complete frames; `garbage` counts what was skipped, by reason."""

    def __init__(self, garbage: Counter[str]) -> None:
        self.garbage = garbage
        self._pending = bytearray()
        self._record: struct.Struct | None = None  # set once a global header is read
        self._ns_per_tick = 1000
        self._linktype = 0
        self._snaplen = MAX_RECORD
        self.streams = 0  # global headers read
        self._scanned = 0  # the current record's body searched for a restart up to here

    @property
    def reading(self) -> bool:
        """Inside a stream (its global header read), not looking for one."""
        return self._record is not None

    def feed(self, data: bytes) -> list[Frame]:
        self._pending += data
        out: list[Frame] = []
        while True:
            if self._record is None:
                if not self._find_header():
                    return out
                continue
            frame = self._next_record()
            if frame is not None:
                out.append(frame)
            elif self._record is not None:
                return out  # the rest of a record is still to come
            # else the framing was lost: look for the next global header

    def _find_header(self) -> bool:
        buf = self._pending
        at = min((i for i in (buf.find(m) for m in PCAP_MAGIC) if i >= 0), default=-1)
        if at < 0:
            keep = 3  # a magic may be split across reads
            if len(buf) > keep:
                self.garbage[SKIPPED_BYTES] += len(buf) - keep
                del buf[:len(buf) - keep]
            return False
        if at:
            self.garbage[SKIPPED_BYTES] += at
            del buf[:at]
        if len(buf) < GLOBAL_HEADER:
            return False
        order, ns_per_tick = PCAP_MAGIC[bytes(buf[:4])]
        snaplen, linktype = struct.unpack_from(order + "II", buf, 16)
        del buf[:GLOBAL_HEADER]
        self._record = struct.Struct(order + "IIII")
        self._ns_per_tick, self._linktype = ns_per_tick, linktype & 0xFFFF
        self._snaplen = min(snaplen or MAX_RECORD, MAX_RECORD)
        if self.streams:
            self.garbage[NEW_STREAM] += 1
        self.streams += 1
        return True

    def _signature_in(self, start: int, end: int) -> int:
        """Where a global header (magic and version 2.4, 8 octets: not found in frames by
        chance) starts within pending[start:end], or -1."""
        begin = max(start, self._scanned)  # a record fed in pieces is searched once
        window = self._pending[begin:end + 7]
        found = [i for i in (window.find(sig) for sig in _SIGNATURES) if i >= 0]
        if found:
            return begin + min(found)
        self._scanned = max(begin, begin + len(window) - 7)  # a signature may straddle
        return -1

    def _next_record(self) -> Frame | None:
        buf, record = self._pending, self._record
        assert record is not None
        if len(buf) >= 4 and bytes(buf[:4]) in PCAP_MAGIC:
            self._record = None  # a new global header where a record should be
            return None
        if len(buf) < RECORD_HEADER:
            return None
        seconds, frac, caplen, _wirelen = record.unpack_from(buf)
        if caplen > self._snaplen or frac * self._ns_per_tick >= 1_000_000_000:
            self.garbage[LOST_FRAMING] += 1
            del buf[:1]
            self._record, self._scanned = None, 0  # look for the next global header
            return None
        restart = self._signature_in(RECORD_HEADER, RECORD_HEADER + caplen)
        if restart >= 0:  # the board restarted inside this record: a new stream begins
            self.garbage[LOST_FRAMING] += 1
            del buf[:restart]
            self._record, self._scanned = None, 0
            return None
        if len(buf) < RECORD_HEADER + caplen:
            return None
        data = bytes(buf[RECORD_HEADER:RECORD_HEADER + caplen])
        del buf[:RECORD_HEADER + caplen]
        self._scanned = 0
        return Frame(seconds * 1_000_000_000 + frac * self._ns_per_tick, self._linktype, data)


_SIGNATURES = [magic + struct.pack(order + "HH", 2, 4)
               for magic, (order, _tick) in PCAP_MAGIC.items()]
