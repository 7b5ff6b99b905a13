"""Fast BLE link-layer parsing of advertising-channel PDUs.

Link types: 251 (bare LE link layer), 256 (LE link layer with the 10-octet PHDR: RF channel,
signal power, flags) and 272 (nRF Sniffer for Bluetooth LE header). The address reported is
the PDU's transmitter, the one TxAdd describes: AdvA for advertisements and scan responses,
ScanA for SCAN_REQ, InitA for CONNECT_IND, AdvA of ADV_EXT_IND when its header carries one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LINKTYPE_BLE_LL = 251
LINKTYPE_BLE_LL_PHDR = 256
LINKTYPE_NORDIC_BLE = 272

ADV_ACCESS_ADDRESS = 0x8E89BED6

ADV_IND = 0
ADV_DIRECT_IND = 1
ADV_NONCONN_IND = 2
SCAN_REQ = 3
SCAN_RSP = 4
CONNECT_IND = 5
ADV_SCAN_IND = 6
ADV_EXT_IND = 7
PDU_NAMES = {
    ADV_IND: "ADV_IND",
    ADV_DIRECT_IND: "ADV_DIRECT_IND",
    ADV_NONCONN_IND: "ADV_NONCONN_IND",
    SCAN_REQ: "SCAN_REQ",
    SCAN_RSP: "SCAN_RSP",
    CONNECT_IND: "CONNECT_IND",
    ADV_SCAN_IND: "ADV_SCAN_IND",
    ADV_EXT_IND: "ADV_EXT_IND",
}

# skip reasons
SHORT_FRAME = "short_frame"
NOT_ADVERTISING = "not_advertising"  # data-channel PDU (access address not the advertising one)
NO_ADDRESS = "no_address"  # advertising PDU without a transmitter address
BAD_CRC = "bad_crc"
BAD_HEADER = "bad_header"

_PHDR_SIGNAL_VALID = 0x0002
_PHDR_CRC_CHECKED = 0x0400
_PHDR_CRC_VALID = 0x0800
_PHDR = struct.Struct("<BbbBIH")  # rf channel, signal, noise, AA offenses, ref AA, flags
_U32 = struct.Struct("<I")
_NORDIC_EVENT = struct.Struct("<BBBBHI")  # header len, flags, channel, rssi, event ctr, time


@dataclass(frozen=True, slots=True)
class BleAdvert:
    mac: bytes = field(repr=False)  # display order (most significant octet first)
    random: bool  # TxAdd: random (True) or public address
    rssi: int | None
    channel: int | None  # BLE channel index: 37, 38, 39 for advertising
    pdu_type: int


def rf_to_channel_index(rf: int) -> int | None:
    """RF channel (0-39, 2402 + 2k MHz) -> BLE channel index (advertising 37/38/39)."""
    if rf == 0:
        return 37
    if rf == 12:
        return 38
    if rf == 39:
        return 39
    if 1 <= rf <= 11:
        return rf - 1
    if 13 <= rf <= 38:
        return rf - 2
    return None


def parse_ll(data: bytes, pos: int, rssi: int | None, channel: int | None) -> BleAdvert | str:
    """Access address + PDU starting at `pos` -> the transmitter of an advertising PDU."""
    if len(data) < pos + 6:
        return SHORT_FRAME
    if _U32.unpack_from(data, pos)[0] != ADV_ACCESS_ADDRESS:
        return NOT_ADVERTISING
    h0, length = data[pos + 4], data[pos + 5]
    pdu_type = h0 & 0x0F
    tx_random = bool(h0 & 0x40)
    payload = pos + 6
    if len(data) < payload + length:
        return SHORT_FRAME
    if pdu_type == ADV_EXT_IND:
        return _ext_adv_a(data, payload, length, tx_random, rssi, channel)
    if pdu_type not in PDU_NAMES:
        return BAD_HEADER
    if length < 6:
        return BAD_HEADER
    # transmitter address first in every legacy PDU; sent least significant octet first
    mac = data[payload : payload + 6][::-1]
    return BleAdvert(mac, tx_random, rssi, channel, pdu_type)


def _ext_adv_a(
    data: bytes, payload: int, length: int, tx_random: bool, rssi: int | None, ch: int | None
) -> BleAdvert | str:
    """AdvA of an extended advertising PDU, when its extended header carries one."""
    if length < 2:
        return NO_ADDRESS
    ext_len = data[payload] & 0x3F
    if ext_len < 1 or not data[payload + 1] & 0x01:  # AdvA present flag
        return NO_ADDRESS
    if ext_len < 7 or length < 8:
        return BAD_HEADER
    mac = data[payload + 2 : payload + 8][::-1]
    return BleAdvert(mac, tx_random, rssi, ch, ADV_EXT_IND)


def parse_phdr(data: bytes) -> BleAdvert | str:
    """Linktype 256: 10-octet pseudo-header, then the link-layer packet."""
    if len(data) < _PHDR.size:
        return SHORT_FRAME
    rf, signal, _noise, _aao, _ref, flags = _PHDR.unpack_from(data, 0)
    if flags & _PHDR_CRC_CHECKED and not flags & _PHDR_CRC_VALID:
        return BAD_CRC
    rssi = signal if flags & _PHDR_SIGNAL_VALID else None
    return parse_ll(data, _PHDR.size, rssi, rf_to_channel_index(rf))


def parse_bare(data: bytes) -> BleAdvert | str:
    """Linktype 251: the link-layer packet with no radio information."""
    return parse_ll(data, 0, None, None)


def parse_nordic(data: bytes) -> BleAdvert | str:
    """Linktype 272: board id, 6-octet packet header, event header, link-layer packet."""
    if len(data) < 1 + 6 + _NORDIC_EVENT.size:
        return SHORT_FRAME
    if data[0] == 0xBE and data[1] == 0xEF:
        return BAD_HEADER  # sniffer 0.9.7 legacy format: not supported
    event = 7
    hlen, flags, channel, rssi_neg, _counter, _delta = _NORDIC_EVENT.unpack_from(data, event)
    if hlen < _NORDIC_EVENT.size:
        return BAD_HEADER
    if not flags & 0x01:
        return BAD_CRC
    return parse_ll(data, event + hlen, -rssi_neg, channel)


PARSERS = {
    LINKTYPE_BLE_LL: parse_bare,
    LINKTYPE_BLE_LL_PHDR: parse_phdr,
    LINKTYPE_NORDIC_BLE: parse_nordic,
}
