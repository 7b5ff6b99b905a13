"""Nordic's nRF Sniffer for Bluetooth LE UART protocol (firmware 3.x: protocol 2, 4.x: 3).

Pure functions, no I/O: serial_source.py does the talking. On the wire every packet is
SLIP-framed with Nordic's own bytes (start 0xAB, end 0xBC, escape 0xCD followed by the
escaped byte + 1). Inside, a 6-octet header: payload length (2, LE), protocol version, packet
counter (2, LE), packet id. The host sends with protocol version 1 (the firmware's own host
software does). An advertising packet event (id 0x02 in protocol 3, 0x06 in 2) carries a
10-octet event header (its length, flags: bit 0 CRC OK and bits 4-6 the PHY, RF channel
index, RSSI as a positive magnitude, event counter, a 32-bit microsecond timestamp: the
board's clock in protocol 3, the gap since the previous packet in 2), then the link-layer
packet with one padding octet after its 2-octet PDU header that is not sent on air. With
that octet taken out (as Nordic's capture tools do) the packet is what pcap link type 272
holds after its board octet, and btle.parse_nordic reads it.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

from roadside.agent.sources import btle

SLIP_START, SLIP_END, SLIP_ESC = 0xAB, 0xBC, 0xCD
HEADER = struct.Struct("<HBHB")  # payload length, protocol version, counter, packet id
EVENT = struct.Struct("<BBBBHI")  # header length, flags, channel, -rssi, event ctr, time
EVENT_HEADER_LENGTH = 10
PAD_AT = HEADER.size + EVENT_HEADER_LENGTH + 4 + 2  # after access address and PDU header
PHY_CODED = 2
MAX_FRAME = 600  # octets between SLIP start and end; a longer run lost its framing

# packet ids
REQ_FOLLOW = 0x00
EVENT_PACKET_ADV_PDU = 0x02
EVENT_PACKET_DATA_PDU = 0x06  # protocol 2: every packet event, advertising ones too
REQ_SCAN_CONT = 0x07
PING_REQ = 0x0D
PING_RESP = 0x0E
SET_ADV_CHANNEL_HOP_SEQ = 0x17
REQ_VERSION = 0x1B
RESP_VERSION = 0x1C
PROTOCOL_HOST = 1  # the version field of what the host sends
ADVERTISING_CHANNELS = (37, 38, 39)

# garbage reasons
BAD_ESCAPE = "bad_escape"
FRAME_TOO_LONG = "frame_too_long"
SHORT_PACKET = "short_packet"
BAD_LENGTH = "bad_length"
UNKNOWN_VERSION = "unknown_version"


def slip(packet: bytes) -> bytes:
    """One packet framed for the wire."""
    out = bytearray([SLIP_START])
    for b in packet:
        if b in (SLIP_START, SLIP_END, SLIP_ESC):
            out += bytes([SLIP_ESC, b + 1])
        else:
            out.append(b)
    out.append(SLIP_END)
    return bytes(out)


def command(packet_id: int, payload: bytes, counter: int) -> bytes:
    """A host command, framed."""
    # protocol 1: header length, a one-octet payload length, version, counter, id
    header = bytes([HEADER.size, len(payload), PROTOCOL_HOST, counter & 0xFF,
                    (counter >> 8) & 0xFF, packet_id])
    return slip(header + payload)


def hop_sequence(channels: tuple[int, ...]) -> bytes:
    """SET_ADV_CHANNEL_HOP_SEQ's payload: how many, then the channels (padded to three)."""
    return bytes([len(channels), *channels, *(37,) * (3 - len(channels))])


class SlipDecoder:
    """Bytes in, whole unescaped packets out; what cannot be a packet is counted by reason
    in `garbage` (bytes outside a frame, e.g. a booting board's text, are dropped)."""

    def __init__(self, garbage: Counter[str]) -> None:
        self.garbage = garbage
        self._frame: bytearray | None = None  # inside a frame since its start byte
        self._escaped = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            frame = self._frame
            if b == SLIP_START:
                if frame is not None:
                    self.garbage[BAD_LENGTH] += 1  # a frame without its end
                self._frame, self._escaped = bytearray(), False
            elif frame is None:
                continue
            elif self._escaped:
                self._escaped = False
                if b - 1 not in (SLIP_START, SLIP_END, SLIP_ESC):
                    self.garbage[BAD_ESCAPE] += 1
                    self._frame = None
                else:
                    frame.append(b - 1)
            elif b == SLIP_ESC:
                self._escaped = True
            elif b == SLIP_END:
                out.append(bytes(frame))
                self._frame = None
            else:
                frame.append(b)
                if len(frame) > MAX_FRAME:
                    self.garbage[FRAME_TOO_LONG] += 1
                    self._frame = None
        return out


@dataclass(frozen=True, slots=True)
class Packet:
    version: int
    counter: int
    packet_id: int
    payload: bytes


def parse_packet(frame: bytes) -> Packet | str:
    """An unescaped frame -> its header fields and payload, or a garbage reason."""
    if len(frame) < HEADER.size:
        return SHORT_PACKET
    length, version, counter, packet_id = HEADER.unpack_from(frame)
    if version not in (2, 3):
        return UNKNOWN_VERSION
    if HEADER.size + length != len(frame):
        return BAD_LENGTH
    return Packet(version, counter, packet_id, frame[HEADER.size:])


def is_advert_event(packet: Packet) -> bool:
    return packet.packet_id == EVENT_PACKET_ADV_PDU or (
        packet.version == 2 and packet.packet_id == EVENT_PACKET_DATA_PDU)


def advert(frame: bytes) -> tuple[btle.BleAdvert, int] | str:
    """An advertising packet event -> (the transmitter, the event's microsecond field), or
    why it gives none (btle's reasons: bad CRC, not advertising, no address, ...)."""
    if len(frame) < PAD_AT + 1 + 6:
        return btle.SHORT_FRAME
    hlen, flags, _ch, _rssi, _event, micros = EVENT.unpack_from(frame, HEADER.size)
    if hlen != EVENT_HEADER_LENGTH:
        return btle.BAD_HEADER
    pad = PAD_AT + 1 if (flags >> 4) & 0x07 == PHY_CODED else PAD_AT
    on_air = frame[:pad] + frame[pad + 1:]
    found = btle.parse_nordic(b"\x00" + on_air)  # the board octet of link type 272
    if isinstance(found, str):
        return found
    return found, micros
