"""The fast 802.11 parser agrees with scapy on every probe request of the real captures."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.dot11 import Dot11, Dot11ProbeReq, RadioTap
from scapy.packet import Raw

from roadside.agent.sources import dot11
from roadside.agent.sources.capfile import CaptureReader

# probe requests, unique transmitters, randomized ones: tests/data/captures/README.md
README_COUNTS = {
    "sc6-61_2024-02-08_position_1.pcap": (13238, 674, 646),
    "sc6-61_2024-02-08_position_2.pcap": (15345, 768, 716),
}


@pytest.fixture
def scapy_without_ies(monkeypatch: pytest.MonkeyPatch) -> None:
    """scapy dissects radiotap and the 802.11 header fully; the IEs after them stay raw.

    The IEs hold nothing the comparison needs, and skipping them makes scapy 1.5x faster.
    """
    monkeypatch.setattr(Dot11ProbeReq, "guess_payload_class", lambda self, payload: Raw)


def _scapy_channel(freq: int) -> int:
    return 14 if freq == 2484 else (freq - 2407) // 5  # the captures are all 2.4 GHz


@pytest.mark.usefixtures("scapy_without_ies")
def test_parser_and_scapy_agree_on_every_probe_request(captures_dir: Path) -> None:
    files = sorted((captures_dir / "wifi").glob("*.pcap"))
    assert len(files) >= 2
    for path in files:
        compared = 0
        for frame in CaptureReader(path).frames():
            ours = dot11.parse_radiotap_probe(frame.data)
            pkt = RadioTap(frame.data)
            assert pkt.haslayer(Dot11ProbeReq), f"{path.name}: scapy sees no probe request"
            assert isinstance(ours, dot11.ProbeRequest), f"{path.name}: {ours}"
            assert ours.mac == bytes.fromhex(pkt[Dot11].addr2.replace(":", ""))
            assert ours.rssi == pkt.dBm_AntSignal
            assert ours.freq_mhz == pkt.ChannelFrequency
            assert ours.channel == _scapy_channel(pkt.ChannelFrequency)
            compared += 1
        assert compared > 0, path.name


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_counts_match_the_captures_readme(captures_dir: Path, name: str) -> None:
    probes, unique, randomized = README_COUNTS[name]
    macs = set()
    n = 0
    for frame in CaptureReader(captures_dir / "wifi" / name).frames():
        p = dot11.parse_radiotap_probe(frame.data)
        assert isinstance(p, dot11.ProbeRequest)
        macs.add(p.mac)
        n += 1
    assert (n, len(macs), sum(1 for m in macs if m[0] & 0x02)) == (probes, unique, randomized)


def test_seen_at_both_positions_matches_readme(captures_dir: Path) -> None:
    def macs(name: str) -> set[bytes]:
        out = set()
        for frame in CaptureReader(captures_dir / "wifi" / name).frames():
            p = dot11.parse_radiotap_probe(frame.data)
            assert isinstance(p, dot11.ProbeRequest)
            out.add(p.mac)
        return out

    both = macs("sc6-61_2024-02-08_position_1.pcap") & macs("sc6-61_2024-02-08_position_2.pcap")
    assert (len(both), sum(1 for m in both if m[0] & 0x02)) == (246, 219)


def _radiotap(fields: bytes, present: list[int]) -> bytes:
    words = b"".join(struct.pack("<I", w) for w in present)
    return struct.pack("<BBH", 0, 0, 4 + len(words) + len(fields)) + words + fields


PROBE = bytes([0x40, 0]) + b"\0\0" + b"\xff" * 6 + bytes.fromhex("02aabbccddee") + b"\xff" * 6
PROBE += b"\0\0" + b"\x00\x00"  # seq, then an empty SSID IE


def test_alignment_tsft_and_extended_bitmaps() -> None:
    # present: TSFT(0) Flags(1) Channel(3) ext(31); second word: antsignal(5) in radiotap ns.
    # With two bitmap words the data starts at 12, so TSFT needs 4 octets of padding.
    fields = b"\0" * 4 + b"\x11" * 8 + b"\x10" + b"\0" + struct.pack("<HH", 2437, 0xA0) + b"\xc4"
    frame = _radiotap(fields, [0x8000000B, 0x00000020]) + PROBE + b"FCS!"
    got = dot11.parse_radiotap_probe(frame)
    assert isinstance(got, dot11.ProbeRequest)
    assert (got.mac.hex(), got.rssi, got.freq_mhz, got.channel) == ("02aabbccddee", -60, 2437, 6)


def test_vendor_namespace_is_skipped() -> None:
    # word0: Flags(1), vendor ns(30), ext(31); word1 (vendor): skip 3 octets, ext;
    # word2: back to radiotap (29 set on word1) with antsignal(5).
    vendor = b"\x00\x11\x22" + b"\x01" + struct.pack("<H", 3) + b"abc"
    fields = b"\x00" + b"\x00" + vendor + b"\xb0"
    frame = _radiotap(fields, [0xC0000002, 0xA0000000, 0x00000020]) + PROBE
    got = dot11.parse_radiotap_probe(frame)
    assert isinstance(got, dot11.ProbeRequest)
    assert got.rssi == -80


def test_other_frames_and_damage_give_reasons() -> None:
    beacon = bytes([0x80, 0]) + PROBE[2:]
    assert dot11.parse_radiotap_probe(_radiotap(b"", [0]) + beacon) == "not_probe_request"
    assert dot11.parse_radiotap_probe(_radiotap(b"", [0]) + PROBE[:20]) == "short_frame"
    assert dot11.parse_radiotap_probe(b"\x00\x00\xff\x00" + b"\0" * 8) == "bad_radiotap"
    assert dot11.parse_radiotap_probe(_radiotap(b"\x40", [0x2]) + PROBE) == "bad_fcs"
    assert dot11.parse_radiotap_probe(b"") == "bad_radiotap"


@pytest.mark.parametrize(
    ("freq", "channel"), [(2412, 1), (2472, 13), (2484, 14), (5180, 36), (5955, 1), (900, None)]
)
def test_freq_to_channel(freq: int, channel: int | None) -> None:
    assert dot11.freq_to_channel(freq) == channel
