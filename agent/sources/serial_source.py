"""A sniffer board on a serial port as a source: an nRF52840 dongle running Nordic's nRF
Sniffer for Bluetooth LE, or an ESP32 streaming pcap (firmware_config/serial/).

nRF Sniffer: the agent pings the board, asks its version, sets the advertising channels to
hop over and starts a continuous scan (nrf_sniffer.py); every advertising packet event with
a good CRC becomes a sighting (the transmitter's address, TxAdd, RSSI, channel). A board
silent for SILENCE_S is pinged: one that answers had reset (it idles after a reset) and is
set scanning again; one that does not answer is reopened by the supervisor (backoff).
pcap: the stream is parsed as it comes (pcap_stream.py), each frame through the WiFi
pipeline's parser (radiotap or plain 802.11 link types, and BLE link types too).

Board clocks: a timestamp that is wall-clock time (pcap records of a board that keeps NTP
time) is taken as it is; a clock counting from boot (the nRF's microseconds, an ESP32
without time) is anchored to the host clock at its first reading and again when it jumps
(a reset, or a wrap the agent could not follow). Frames that give no sighting are counted
by reason in `skipped`, undecodable bytes in `garbage`; neither is ever logged with content.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator

from roadside.agent.model import RadioKind, Sighting
from roadside.agent.privacy import ble_address_kind
from roadside.agent.sources import nrf_sniffer as nrf
from roadside.agent.sources.base import Emit, SourceError
from roadside.agent.sources.capfile import Frame, valid_time
from roadside.agent.sources.pcap_stream import PcapStream
from roadside.agent.sources.replay import sighting_from_frame
from roadside.agent.sources.serial_link import SerialLink
from roadside.agent.sources.serial_profile import SerialProfile

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 2.0  # the board answers a ping within this
VERSION_TIMEOUT_S = 1.0  # firmware 3.x does not answer REQ_VERSION: not required
SILENCE_S = 10.0  # nothing from the board this long: ping it
NO_STREAM_S = 30.0  # pcap: no global header this long after opening: reopen the port
CLOCK_JUMP_NS = 2_000_000_000  # re-anchor a board clock that is off by more than this
WRAP_US = 1 << 32  # the nRF's microsecond timestamp wraps (about 71.6 minutes)
SCAN_FLAGS = 0x01  # REQ_SCAN_CONT: report scan responses too


class BoardClock:
    """Board time since boot -> unix ns: anchored to the host clock, re-anchored on jumps."""

    def __init__(self, wrap_ns: int = 0) -> None:
        self.wrap_ns = wrap_ns
        self._offset_ns: int | None = None
        self._last_ns = 0
        self.anchors = 0  # how often the clock was (re-)anchored

    def unix_ns(self, board_ns: int) -> int:
        now = time.time_ns()
        if self.wrap_ns and self._offset_ns is not None and board_ns < self._last_ns \
                and self._last_ns - board_ns > self.wrap_ns // 2:
            self._offset_ns += self.wrap_ns  # wrapped
        if (self._offset_ns is None or board_ns < self._last_ns
                or abs(board_ns + self._offset_ns - now) > CLOCK_JUMP_NS):
            self._offset_ns = now - board_ns
            self.anchors += 1
        self._last_ns = board_ns
        return board_ns + self._offset_ns


class SerialSource:
    def __init__(self, port: str, baud: int, profile: SerialProfile, name: str = "serial") -> None:
        self.name = name
        self.port = port
        self.baud = baud or profile.baud
        self.profile = profile
        self.board = profile.board  # and the firmware's version once it said
        self.garbage: Counter[str] = Counter()  # bytes that were not a packet, by reason
        self.skipped: Counter[str] = Counter()  # packets that gave no sighting, by reason
        self.sightings = 0
        self.connected = False  # the port is open (what a board sent before is lost)
        self._counter = 0  # of the commands sent

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        async with SerialLink(self.port, self.baud, self.name, stop) as link:
            self.connected = True
            try:
                if self.profile.protocol == "nrf-sniffer":
                    await self._nrf(link, emit)
                else:
                    await self._pcap(link, emit)
            finally:
                self.connected = False

    # nRF Sniffer for Bluetooth LE ----------------------------------------------

    async def _nrf(self, link: SerialLink, emit: Emit) -> None:
        decoder = nrf.SlipDecoder(self.garbage)
        clock = BoardClock(WRAP_US * 1000)
        await self._send(link, nrf.PING_REQ)
        if await self._expect(link, decoder, nrf.PING_RESP, REPLY_TIMEOUT_S) is None:
            raise SourceError(f"serial {self.port}: no answer to a ping within "
                              f"{REPLY_TIMEOUT_S:g} s (is it an nRF Sniffer at {self.baud} baud?)")
        await self._send(link, nrf.REQ_VERSION)
        version = await self._expect(link, decoder, nrf.RESP_VERSION, VERSION_TIMEOUT_S)
        if version is not None:
            self.board = f"{self.profile.board} {version.payload.decode('ascii', 'replace')}"
        await self._scan(link)
        log.info("serial %s: %s scanning channels %s on %s", self.name, self.board,
                 ",".join(map(str, self.profile.channels)), self.port)
        pinged = False
        while True:
            chunk = await link.read(REPLY_TIMEOUT_S if pinged else SILENCE_S)
            if chunk is None:
                return
            if not chunk:
                if pinged:
                    raise SourceError(f"serial {self.port}: the board stopped answering")
                await self._send(link, nrf.PING_REQ)
                pinged = True
                continue
            for frame, packet in self.packets(decoder, chunk):
                if packet.packet_id == nrf.PING_RESP and pinged:
                    pinged = False  # alive after a silence: a reset board idles
                    await self._scan(link)
                elif nrf.is_advert_event(packet):
                    self.on_advert(frame, packet, clock, emit)

    def on_advert(self, frame: bytes, packet: nrf.Packet, clock: BoardClock, emit: Emit) -> None:
        """One advertising packet event -> a sighting (or a skip counted by reason)."""
        found = nrf.advert(frame)
        if isinstance(found, str):
            self.skipped[found] += 1
            return
        adv, micros = found
        # protocol 3 stamps the board's clock; 2 only the gap to the previous packet
        t_ns = clock.unix_ns(micros * 1000) if packet.version >= 3 else time.time_ns()
        self.sightings += 1
        emit(Sighting(adv.mac, t_ns, adv.rssi, RadioKind.BLE,
                      ble_address_kind(adv.mac, adv.random), self.name, adv.channel))

    async def _scan(self, link: SerialLink) -> None:
        await self._send(link, nrf.SET_ADV_CHANNEL_HOP_SEQ,
                         nrf.hop_sequence(self.profile.channels))
        await self._send(link, nrf.REQ_SCAN_CONT, bytes([SCAN_FLAGS]))

    async def _send(self, link: SerialLink, packet_id: int, payload: bytes = b"") -> None:
        await link.write(nrf.command(packet_id, payload, self._counter))
        self._counter += 1

    async def _expect(self, link: SerialLink, decoder: nrf.SlipDecoder, packet_id: int,
                      within_s: float) -> nrf.Packet | None:
        """The first packet of this id within `within_s` (others meanwhile are dropped)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within_s
        while (left := end - loop.time()) > 0:
            chunk = await link.read(left)
            if chunk is None:
                raise SourceError(f"serial {self.port}: stopped during the handshake")
            for _frame, packet in self.packets(decoder, chunk):
                if packet.packet_id == packet_id:
                    return packet
        return None

    def packets(self, decoder: nrf.SlipDecoder,
                 chunk: bytes) -> Iterator[tuple[bytes, nrf.Packet]]:
        """The chunk's whole packets (and their frames); the rest counted as garbage."""
        for frame in decoder.feed(chunk):
            packet = nrf.parse_packet(frame)
            if isinstance(packet, str):
                self.garbage[packet] += 1
            else:
                yield frame, packet

    # pcap over serial -------------------------------------------------------------

    async def _pcap(self, link: SerialLink, emit: Emit) -> None:
        stream = PcapStream(self.garbage)
        clock = BoardClock()
        log.info("serial %s: %s (pcap) open on %s", self.name, self.board, self.port)
        loop = asyncio.get_running_loop()
        since = loop.time()  # waiting for a global header since
        while True:
            chunk = await link.read(NO_STREAM_S)
            if chunk is None:
                return
            for frame in stream.feed(chunk):
                t_ns = frame.t_ns if valid_time(frame.t_ns) else clock.unix_ns(frame.t_ns)
                got = sighting_from_frame(Frame(t_ns, frame.linktype, frame.data), self.name)
                if isinstance(got, str):
                    self.skipped[got] += 1
                else:
                    self.sightings += 1
                    emit(got)
            if stream.reading:
                since = loop.time()
            elif loop.time() - since > NO_STREAM_S:
                raise SourceError(f"serial {self.port}: no pcap stream within {NO_STREAM_S:g} s "
                                  f"(is it a pcap firmware at {self.baud} baud?)")
