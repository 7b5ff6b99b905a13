"""Fast 802.11 parsing: radiotap header walk and probe-request transmitter address.

scapy's full dissection manages about a thousand frames a second; this reads only what a
sighting needs (addr2, dBm antenna signal, channel) with struct at a few hundred thousand.
Parsers return a ProbeRequest, or a short reason string when the frame is not one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LINKTYPE_IEEE802_11 = 105  # bare 802.11, no radio header
LINKTYPE_RADIOTAP = 127

# skip reasons
NOT_PROBE_REQUEST = "not_probe_request"
SHORT_FRAME = "short_frame"
BAD_RADIOTAP = "bad_radiotap"
BAD_FCS = "bad_fcs"

_PROBE_REQ_FC0 = 0x40  # frame control, first octet: version 0, type 0 (mgmt), subtype 4
_MGMT_HEADER_LEN = 24
_FLAG_FCS = 0x10  # radiotap Flags: frame ends with a 4-octet FCS
_FLAG_BAD_FCS = 0x40

# radiotap fields of the default namespace by present bit: (alignment, size)
_FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8),  # TSFT
    1: (1, 1),  # Flags
    2: (1, 1),  # Rate
    3: (2, 4),  # Channel: frequency u16, flags u16
    4: (1, 2),  # FHSS
    5: (1, 1),  # dBm antenna signal (s8)
    6: (1, 1),  # dBm antenna noise
    7: (2, 2),  # lock quality
    8: (2, 2),  # TX attenuation
    9: (2, 2),  # dB TX attenuation
    10: (1, 1),  # dBm TX power
    11: (1, 1),  # antenna
    12: (1, 1),  # dB antenna signal
    13: (1, 1),  # dB antenna noise
    14: (2, 2),  # RX flags
    15: (2, 2),  # TX flags
    16: (1, 1),  # RTS retries
    17: (1, 1),  # data retries
    18: (4, 8),  # XChannel
    19: (1, 3),  # MCS
    20: (4, 8),  # A-MPDU status
    21: (2, 12),  # VHT
    22: (8, 12),  # timestamp
    23: (2, 12),  # HE
    24: (2, 12),  # HE-MU
    25: (2, 6),  # HE-MU-other-user
    26: (1, 1),  # 0-length PSDU
    27: (2, 4),  # L-SIG
}
_BIT_RADIOTAP_NS = 29
_BIT_VENDOR_NS = 30
_BIT_EXT = 31

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_CHANNEL = struct.Struct("<HH")


@dataclass(frozen=True, slots=True)
class Radiotap:
    length: int  # header length: the 802.11 frame starts here
    flags: int = 0
    freq_mhz: int | None = None
    rssi: int | None = None  # dBm antenna signal, the first one present


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    mac: bytes = field(repr=False)  # transmitter address (addr2), display order
    rssi: int | None
    freq_mhz: int | None
    channel: int | None


def freq_to_channel(freq_mhz: int) -> int | None:
    """802.11 channel number of a centre frequency (2.4, 5 and 6 GHz bands)."""
    if freq_mhz == 2484:
        return 14
    if 2412 <= freq_mhz <= 2472:
        return (freq_mhz - 2407) // 5
    if freq_mhz == 5935:
        return 2
    if 5955 <= freq_mhz <= 7115:
        return (freq_mhz - 5950) // 5
    if 5000 <= freq_mhz <= 5925:
        return (freq_mhz - 5000) // 5
    if 4910 <= freq_mhz <= 4980:
        return (freq_mhz - 4000) // 5
    return None


def _layout(present: int, start: int) -> tuple[int, int, int, int]:
    """Offsets of Flags, Channel, dBm antenna signal (-1: absent) and the end of the
    bits 0-5 fields, for a first present word and a data start (both mod 8)."""
    pos = start
    offsets = {1: -1, 3: -1, 5: -1}
    for bit in range(6):
        if present & (1 << bit):
            align, size = _FIELDS[bit]
            pos = (pos + align - 1) & -align
            if bit in offsets:
                offsets[bit] = pos - start
            pos += size
    return offsets[1], offsets[3], offsets[5], pos - start


# (bits 0-5 of the first present word, data start mod 8) -> _layout; starts are 8 + 4k
_LAYOUTS = {(bits, mod): _layout(bits, mod) for bits in range(64) for mod in (0, 4)}
_U32_AT = _U32.unpack_from
_U16_AT = _U16.unpack_from


def probe_fields(data: bytes) -> tuple[bytes, int | None, int | None] | str:
    """Hot path: a radiotap frame -> (addr2, dBm signal, MHz) of a probe request, or a reason.

    Same results as parse_radiotap + parse_probe_request, with one table lookup instead of
    a field walk whenever the needed fields sit in the first present word.
    """
    n = len(data)
    if n < 8 or data[0] != 0:
        return BAD_RADIOTAP
    length = data[2] | data[3] << 8
    if length < 8 or length > n:
        return BAD_RADIOTAP
    present = _U32_AT(data, 4)[0]
    pos = 8
    word = present
    while word & 0x80000000:
        if pos + 4 > length:
            return BAD_RADIOTAP
        word = _U32_AT(data, pos)[0]
        pos += 4
    rssi: int | None
    if pos != 8 and not present & 0x20:  # signal only in a later namespace: walk it all
        rt = parse_radiotap(data)
        if isinstance(rt, str):
            return rt
        flags, freq, rssi = rt.flags, rt.freq_mhz, rt.rssi
    else:
        f_off, c_off, s_off, end = _LAYOUTS[(present & 0x3F, pos & 7)]
        if pos + end > length:
            return BAD_RADIOTAP
        flags = data[pos + f_off] if f_off >= 0 else 0
        freq = (_U16_AT(data, pos + c_off)[0] or None) if c_off >= 0 else None
        if s_off >= 0:
            rssi = data[pos + s_off]
            if rssi > 127:
                rssi -= 256
        else:
            rssi = None
    if flags & _FLAG_BAD_FCS:
        return BAD_FCS
    if n <= length:
        return SHORT_FRAME
    if data[length] != _PROBE_REQ_FC0:
        return NOT_PROBE_REQUEST
    if n - length < (_MGMT_HEADER_LEN + 4 if flags & _FLAG_FCS else _MGMT_HEADER_LEN):
        return SHORT_FRAME
    return data[length + 10 : length + 16], rssi, freq


_CHANNEL_OF: dict[int, int | None] = {}


def channel_of(freq_mhz: int | None) -> int | None:
    """freq_to_channel, remembered per frequency (hot path)."""
    if freq_mhz is None:
        return None
    try:
        return _CHANNEL_OF[freq_mhz]
    except KeyError:
        ch = _CHANNEL_OF[freq_mhz] = freq_to_channel(freq_mhz)
        return ch


def parse_radiotap(data: bytes) -> Radiotap | str:
    """Walk the present-bitmap chain and read Flags, Channel and dBm antenna signal."""
    n = len(data)
    if n < 8 or data[0] != 0:
        return BAD_RADIOTAP
    length = _U16.unpack_from(data, 2)[0]
    if length < 8 or length > n:
        return BAD_RADIOTAP
    words = []
    pos = 4
    while True:
        if pos + 4 > length:
            return BAD_RADIOTAP
        word = _U32.unpack_from(data, pos)[0]
        words.append(word)
        pos += 4
        if not word & (1 << _BIT_EXT):
            break
    first = words[0]
    # Fast path: the fields we need sit in bits 0-5 of the first word, which come first.
    if first & 0x20 or len(words) == 1:
        return _walk_first(data, pos, length, first)
    return _walk_all(data, pos, length, words)


def _walk_first(data: bytes, pos: int, length: int, present: int) -> Radiotap | str:
    flags = 0
    freq = None
    rssi = None
    for bit in range(6):
        if not present & (1 << bit):
            continue
        align, size = _FIELDS[bit]
        pos = (pos + align - 1) & -align
        if pos + size > length:
            return BAD_RADIOTAP
        if bit == 1:
            flags = data[pos]
        elif bit == 3:
            freq = _CHANNEL.unpack_from(data, pos)[0] or None
        elif bit == 5:
            rssi = data[pos] - 256 if data[pos] > 127 else data[pos]
        pos += size
    return Radiotap(length, flags, freq, rssi)


def _walk_all(data: bytes, pos: int, length: int, words: list[int]) -> Radiotap | str:
    """Slow path: dBm antenna signal only in a later bitmap (per-antenna namespaces)."""
    flags = 0
    freq = None
    rssi = None
    in_radiotap = True
    for index, word in enumerate(words):
        for bit in range(29):
            if not word & (1 << bit):
                continue
            if not in_radiotap or bit not in _FIELDS:
                return Radiotap(length, flags, freq, rssi)  # unknown field: sizes beyond it unknown
            align, size = _FIELDS[bit]
            pos = (pos + align - 1) & -align
            if pos + size > length:
                return BAD_RADIOTAP
            if index == 0 and bit == 1:
                flags = data[pos]
            elif bit == 3 and freq is None:
                freq = _CHANNEL.unpack_from(data, pos)[0] or None
            elif bit == 5 and rssi is None:
                rssi = data[pos] - 256 if data[pos] > 127 else data[pos]
            pos += size
        if word & (1 << _BIT_VENDOR_NS):
            pos = (pos + 1) & -2
            if pos + 6 > length:
                return BAD_RADIOTAP
            pos += 6 + _U16.unpack_from(data, pos + 4)[0]
            in_radiotap = False
        elif word & (1 << _BIT_RADIOTAP_NS):
            in_radiotap = True
    return Radiotap(length, flags, freq, rssi)


def parse_probe_request(data: bytes, offset: int = 0, fcs: bool = False) -> bytes | str:
    """Transmitter address of an 802.11 probe request starting at `offset`, or a reason."""
    if len(data) <= offset:
        return SHORT_FRAME
    if data[offset] != _PROBE_REQ_FC0:
        return NOT_PROBE_REQUEST
    if len(data) - offset < _MGMT_HEADER_LEN + (4 if fcs else 0):
        return SHORT_FRAME
    return data[offset + 10 : offset + 16]


def parse_radiotap_probe(data: bytes) -> ProbeRequest | str:
    """A radiotap (linktype 127) frame -> ProbeRequest, or a skip reason."""
    got = probe_fields(data)
    if isinstance(got, str):
        return got
    mac, rssi, freq = got
    return ProbeRequest(mac, rssi, freq, channel_of(freq))


def parse_bare_probe(data: bytes) -> ProbeRequest | str:
    """A bare 802.11 (linktype 105) frame -> ProbeRequest without RSSI or channel."""
    mac = parse_probe_request(data)
    if isinstance(mac, str):
        return mac
    return ProbeRequest(mac, None, None, None)


__all__ = [
    "LINKTYPE_IEEE802_11",
    "LINKTYPE_RADIOTAP",
    "ProbeRequest",
    "Radiotap",
    "channel_of",
    "freq_to_channel",
    "parse_bare_probe",
    "parse_radiotap",
    "parse_radiotap_probe",
    "probe_fields",
]
