"""Write what each simulated detector hears as standard pcap files that `agent replay` reads.

WiFi sightings become 802.11 probe requests behind a radiotap header (channel, dBm antenna
signal), link type 127. BLE sightings become link-layer advertising PDUs (ADV_IND) behind
the PHDR pseudo-header (RF channel, signal power, CRC checked), link type 256. Bluetooth
classic inquiry results have no standard capture format here: they are counted, not written.

Files are written under a temporary name and renamed when complete, so a reader never sees
half a file. Timestamps are whole microseconds (classic pcap).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from roadside.agent.errors import AgentError
from roadside.agent.model import AddressKind, RadioKind, Sighting

LINKTYPE_RADIOTAP = 127
LINKTYPE_BLE_LL_PHDR = 256
SNAPLEN = 65535
PCAP_MAGIC_US = 0xA1B2C3D4

BLE_ADV_ACCESS_ADDRESS = 0x8E89BED6
BLE_CRC_INIT = 0x555555
BLE_CRC_POLY_REFLECTED = 0xDA6000  # x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1, LSB first
BLE_PDU_ADV_IND = 0x0
BLE_TXADD_RANDOM = 0x40
# PHDR flags: dewhitened, signal power valid, reference access address valid, CRC checked, valid
BLE_PHDR_FLAGS = 0x0001 | 0x0002 | 0x0010 | 0x0400 | 0x0800
BLE_ADV_DATA = bytes([0x02, 0x01, 0x06])  # AD "flags": LE general discoverable, no BR/EDR
# advertising channel index -> RF channel number used by the PHDR header
BLE_RF_CHANNEL = {37: 0, 38: 12, 39: 39}

# radiotap: present = Flags (bit 1) | Channel (bit 3) | dBm antenna signal (bit 5)
RADIOTAP_PRESENT = (1 << 1) | (1 << 3) | (1 << 5)
RADIOTAP_LEN = 15  # 8 header + flags 1 + pad 1 + channel 4 + signal 1
RADIOTAP_CHAN_2GHZ = 0x0080 | 0x0020  # 2 GHz spectrum, CCK
PROBE_BODY = bytes([0x00, 0x00,  # SSID: wildcard
                    0x01, 0x08, 0x02, 0x04, 0x0B, 0x16, 0x0C, 0x12, 0x18, 0x24])  # rates
BROADCAST = b"\xff" * 6


class CaptureWriteError(AgentError):
    """A capture file could not be written."""


@dataclass(slots=True)
class CaptureSummary:
    files: dict[Path, int] = field(default_factory=dict)  # file -> frames written
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> frames not written

    @property
    def frames(self) -> int:
        return sum(self.files.values())


def wifi_frequency(channel: int) -> int:
    if channel == 14:
        return 2484
    if 1 <= channel <= 13:
        return 2407 + 5 * channel
    return 5000 + 5 * channel


def ble_crc(pdu: bytes, init: int = BLE_CRC_INIT) -> bytes:
    """The link layer's CRC-24 over a PDU, as the three bytes sent after it."""
    register = int(f"{init:024b}"[::-1], 2)  # the spec loads the init value bit-reversed
    for byte in pdu:
        for bit in range(8):
            feedback = (register ^ (byte >> bit)) & 1
            register >>= 1
            if feedback:
                register ^= BLE_CRC_POLY_REFLECTED
    return register.to_bytes(3, "little")


def probe_request(sighting: Sighting, seq: int) -> bytes:
    """Radiotap + 802.11 probe request from the sighting's address, channel and RSSI."""
    channel = sighting.channel or 1
    rssi = sighting.rssi if sighting.rssi is not None else -127
    radiotap = struct.pack(
        "<BBHIBxHHb", 0, 0, RADIOTAP_LEN, RADIOTAP_PRESENT, 0,
        wifi_frequency(channel), RADIOTAP_CHAN_2GHZ, rssi,
    )
    header = struct.pack("<BBH", 0x40, 0x00, 0) + BROADCAST + sighting.mac + BROADCAST
    return radiotap + header + struct.pack("<H", (seq & 0xFFF) << 4) + PROBE_BODY


def ble_advert(sighting: Sighting) -> bytes:
    """PHDR + link-layer ADV_IND from the sighting's address, channel and RSSI."""
    random_address = sighting.address_kind not in (AddressKind.BLE_PUBLIC, AddressKind.UNKNOWN)
    payload = sighting.mac[::-1] + BLE_ADV_DATA  # AdvA goes least significant byte first
    header = BLE_PDU_ADV_IND | (BLE_TXADD_RANDOM if random_address else 0)
    pdu = bytes([header, len(payload)]) + payload
    rssi = sighting.rssi if sighting.rssi is not None else 0
    phdr = struct.pack(
        "<BbbBIH", BLE_RF_CHANNEL.get(sighting.channel or 37, 0), rssi, 0, 0,
        BLE_ADV_ACCESS_ADDRESS, BLE_PHDR_FLAGS,
    )
    return phdr + struct.pack("<I", BLE_ADV_ACCESS_ADDRESS) + pdu + ble_crc(pdu)


class PcapWriter:
    """A classic pcap file (microsecond timestamps), written to FILE.tmp and renamed on close."""

    def __init__(self, path: Path, linktype: int) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.frames = 0
        try:
            self._file: BinaryIO = open(self.tmp, "wb")  # closed in close()
            self._file.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN,
                                         linktype))
        except OSError as exc:
            raise CaptureWriteError(f"{path}: cannot write: {exc.strerror}") from exc

    def write(self, t_ns: int, frame: bytes) -> None:
        micros = t_ns // 1000
        self._file.write(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                                     len(frame), len(frame)))
        self._file.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)


def write_detector(
    out_dir: Path, detector_id: str, sightings: Iterable[Sighting], summary: CaptureSummary
) -> None:
    """Write one detector's sightings (time order) as DIR/ID.wifi.pcap and DIR/ID.ble.pcap."""
    writers: dict[RadioKind, PcapWriter] = {}
    try:
        for seq, s in enumerate(sightings):
            if s.radio is RadioKind.BT_CLASSIC:
                reason = "bt_classic: no capture format"
                summary.skipped[reason] = summary.skipped.get(reason, 0) + 1
                continue
            writer = writers.get(s.radio)
            if writer is None:
                linktype = LINKTYPE_RADIOTAP if s.radio is RadioKind.WIFI else LINKTYPE_BLE_LL_PHDR
                path = out_dir / f"{detector_id}.{s.radio.value}.pcap"
                writer = writers[s.radio] = PcapWriter(path, linktype)
            frame = probe_request(s, seq) if s.radio is RadioKind.WIFI else ble_advert(s)
            writer.write(s.t_ns, frame)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
        summary.files[w.path] = w.frames
