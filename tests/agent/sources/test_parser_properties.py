"""Property tests of every parser of untrusted bytes (hypothesis): whatever arrives over the
air, a serial line or in a file, no exception but the parser's own answer escapes; the fast
radiotap path agrees with the full walk and with scapy's dissection.

`make test` runs a bounded number of examples; `make fuzz` many more (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import struct
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dot11 import Dot11, Dot11ProbeReq, RadioTap

from roadside.agent.sources import btle, dot11, nrf_sniffer, pcap_stream
from roadside.agent.sources.capfile import MAX_T_NS, MIN_T_NS, CaptureReader

frames = st.binary(max_size=400)


@given(frames)
def test_probe_fields_never_raises_and_matches_the_full_walk(data: bytes) -> None:
    fast = dot11.probe_fields(data)
    assert isinstance(fast, (str, tuple))
    slow = dot11.parse_radiotap_probe(data)
    if isinstance(slow, str):
        assert isinstance(fast, str)
    else:
        assert fast == (slow.mac, slow.rssi, slow.freq_mhz)


@given(frames)
def test_a_bare_80211_frame_never_raises(data: bytes) -> None:
    assert isinstance(dot11.parse_bare_probe(data), (str, dot11.ProbeRequest))


@given(
    mac=st.binary(min_size=6, max_size=6),
    rssi=st.integers(-100, 0),
    freq=st.sampled_from([2412, 2437, 2462, 5180, 5745]),
    with_tsft=st.booleans(),
    with_rate=st.booleans(),
    fcs=st.booleans(),
)
def test_the_fast_path_agrees_with_scapys_dissection(
    mac: bytes, rssi: int, freq: int, with_tsft: bool, with_rate: bool, fcs: bool
) -> None:
    present = ["Flags", "Channel", "dBm_AntSignal"]
    fields: dict[str, object] = {"ChannelFrequency": freq, "dBm_AntSignal": rssi,
                                 "Flags": "FCS" if fcs else 0, "ChannelFlags": 0x00A0}
    if with_tsft:
        present.insert(0, "TSFT")
        fields["mac_timestamp"] = 123456
    if with_rate:
        present.insert(2 if with_tsft else 1, "Rate")
        fields["Rate"] = 2
    addr = ":".join(f"{b:02x}" for b in mac)
    frame = RadioTap(present="+".join(present), **fields) / Dot11(
        type=0, subtype=4, addr1="ff:ff:ff:ff:ff:ff", addr2=addr, addr3="ff:ff:ff:ff:ff:ff"
    ) / Dot11ProbeReq()
    data = bytes(frame) + (b"\0\0\0\0" if fcs else b"")
    parsed = RadioTap(data)
    assert dot11.probe_fields(data) == (bytes.fromhex(parsed.addr2.replace(":", "")),
                                        parsed.dBm_AntSignal, parsed.ChannelFrequency)


@given(frames, st.sampled_from(sorted(btle.PARSERS)))
def test_ble_link_layer_parsers_never_raise(data: bytes, linktype: int) -> None:
    got = btle.PARSERS[linktype](data)
    assert isinstance(got, str) or len(got.mac) == 6


@given(st.lists(st.binary(max_size=200), max_size=8))
def test_nrf_sniffer_bytes_never_raise(chunks: list[bytes]) -> None:
    garbage: Counter[str] = Counter()
    decoder = nrf_sniffer.SlipDecoder(garbage)
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            assert len(frame) <= nrf_sniffer.MAX_FRAME
            packet = nrf_sniffer.parse_packet(frame)
            if not isinstance(packet, str) and nrf_sniffer.is_advert_event(packet):
                found = nrf_sniffer.advert(frame)
                assert isinstance(found, str) or len(found[0].mac) == 6


@given(st.binary(min_size=1, max_size=300))
def test_nrf_sniffer_frames_survive_slip(packet: bytes) -> None:
    decoder = nrf_sniffer.SlipDecoder(Counter())
    assert decoder.feed(b"noise" + nrf_sniffer.slip(packet)) == [packet]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=400), max_size=10))
def test_a_pcap_stream_never_raises_and_frames_fit_their_snap_length(
    chunks: list[bytes],
) -> None:
    stream = pcap_stream.PcapStream(Counter())
    for chunk in [PCAP_HEAD, *chunks]:
        for frame in stream.feed(chunk):
            assert len(frame.data) <= pcap_stream.MAX_RECORD


PCAP_HEAD = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)
PCAPNG_HEAD = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([b"", PCAP_HEAD, PCAPNG_HEAD]), st.binary(max_size=2000))
def test_capture_files_never_raise_and_every_frame_has_a_sane_time(
    head: bytes, body: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.cap"
        path.write_bytes(head + body)
        reader = CaptureReader(path)
        got = list(reader.frames())
    assert reader.frames_read == len(got)
    assert all(MIN_T_NS <= f.t_ns < MAX_T_NS for f in got)
