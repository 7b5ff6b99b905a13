"""BLE link-layer parsing: real PHDR captures against scapy, Nordic frames built by scapy."""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.contrib.nrf_sniffer import NRFS2_PCAP, NRF2_Packet_Event
from scapy.layers.bluetooth4LE import (
    BTLE,
    BTLE_ADV,
    BTLE_ADV_IND,
    BTLE_ADV_NONCONN_IND,
    BTLE_RF,
    BTLE_SCAN_REQ,
)

from roadside.agent.model import AddressKind
from roadside.agent.sources import btle
from roadside.agent.sources.capfile import CaptureReader

ADV_TYPES = {btle.ADV_IND, btle.ADV_NONCONN_IND, btle.ADV_SCAN_IND, btle.SCAN_RSP}


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def test_phdr_captures_agree_with_scapy(captures_dir: Path) -> None:
    adverts = 0
    for path in sorted((captures_dir / "ble").glob("*.pcap")):
        for frame in CaptureReader(path).frames():
            assert frame.linktype == btle.LINKTYPE_BLE_LL_PHDR
            ours = btle.parse_phdr(frame.data)
            pkt = BTLE_RF(frame.data)
            if isinstance(ours, str):
                continue
            adv = pkt[BTLE_ADV]
            assert adv.PDU_type == ours.pdu_type
            assert bool(adv.TxAdd) == ours.random
            body = adv.payload
            first = body.ScanA if ours.pdu_type == btle.SCAN_REQ else body.AdvA
            assert _mac(first) == ours.mac
            assert ours.channel in (37, 38, 39)
            adverts += ours.pdu_type in ADV_TYPES
    assert adverts > 300  # the four captures hold a few hundred advertisements


def test_data_channel_frames_are_not_advertising(captures_dir: Path) -> None:
    reasons = set()
    for frame in CaptureReader(captures_dir / "ble" / "short_ble_sniff.pcap").frames():
        got = btle.parse_phdr(frame.data)
        if isinstance(got, str):
            reasons.add(got)
            assert BTLE_RF(frame.data)[BTLE].access_addr != btle.ADV_ACCESS_ADDRESS or (
                got in ("no_address", "bad_header")
            )
    assert "not_advertising" in reasons


def _nordic(pdu: BTLE_ADV, rssi: int, channel: int, crc_ok: int = 1) -> bytes:
    """An nRF Sniffer v2 frame: board id, packet header, event header, link-layer packet.

    (scapy's NRFS2_Packet cannot build; it dissects, which the test uses as a cross-check.)
    """
    ll = bytes(BTLE() / pdu)
    event = struct.pack("<BBBBHI", 10, crc_ok, channel, -rssi, 0, 0) + ll
    frame = bytes([3]) + struct.pack("<HBHB", len(event), 2, 1, 6) + event
    parsed = NRFS2_PCAP(frame)
    assert parsed[NRF2_Packet_Event].rf_channel == channel
    assert parsed[BTLE_ADV].PDU_type == pdu.PDU_type
    return frame


def test_nordic_frames_built_by_scapy() -> None:
    adv = BTLE_ADV(TxAdd=1) / BTLE_ADV_IND(AdvA="d1:22:33:44:55:66")
    got = btle.parse_nordic(_nordic(adv, -70, 38))
    assert isinstance(got, btle.BleAdvert)
    want = (_mac("d1:22:33:44:55:66"), True, -70, 38)
    assert (got.mac, got.random, got.rssi, got.channel) == want

    public = BTLE_ADV(TxAdd=0) / BTLE_ADV_NONCONN_IND(AdvA="00:1a:7d:da:71:13")
    got = btle.parse_nordic(_nordic(public, -41, 37))
    assert isinstance(got, btle.BleAdvert)
    assert (got.mac, got.random, got.pdu_type) == (
        _mac("00:1a:7d:da:71:13"), False, btle.ADV_NONCONN_IND,
    )

    scan = BTLE_ADV(TxAdd=1) / BTLE_SCAN_REQ(ScanA="4a:00:00:00:00:01", AdvA="00:1a:7d:da:71:13")
    got = btle.parse_nordic(_nordic(scan, -50, 39))
    assert isinstance(got, btle.BleAdvert)
    assert got.mac == _mac("4a:00:00:00:00:01")  # the scanner is the transmitter

    assert btle.parse_nordic(_nordic(adv, -70, 38, crc_ok=0)) == "bad_crc"
    assert btle.parse_nordic(b"\x00\x01") == "short_frame"


def test_extended_advertising_adva() -> None:
    # ADV_EXT_IND with an extended header carrying AdvA (flags bit 0)
    payload = bytes([7, 0x01]) + bytes.fromhex("665544332211")
    ll = btle.ADV_ACCESS_ADDRESS.to_bytes(4, "little") + bytes([0x47, len(payload)]) + payload
    got = btle.parse_bare(ll + b"\0\0\0")
    assert isinstance(got, btle.BleAdvert)
    assert (got.mac.hex(), got.random, got.pdu_type) == ("112233445566", True, btle.ADV_EXT_IND)
    no_addr = bytes([1, 0x00])
    ll = btle.ADV_ACCESS_ADDRESS.to_bytes(4, "little") + bytes([0x07, 2]) + no_addr
    assert btle.parse_bare(ll) == "no_address"


def test_address_kinds_of_real_adverts(captures_dir: Path) -> None:
    from roadside.agent.privacy import ble_address_kind

    kinds = set()
    for frame in CaptureReader(captures_dir / "ble" / "take_2_adv37.pcap").frames():
        got = btle.parse_phdr(frame.data)
        if isinstance(got, btle.BleAdvert):
            kinds.add(ble_address_kind(got.mac, got.random))
    assert AddressKind.UNKNOWN not in kinds
    assert kinds & {AddressKind.BLE_RESOLVABLE, AddressKind.BLE_RANDOM_STATIC}
