"""pcap and pcapng reading: byte orders, resolutions, interfaces, truncated and corrupt files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.dot11 import RadioTap
from scapy.utils import PcapNgWriter, RawPcapNgReader, RawPcapReader

from roadside.agent.sources.capfile import MAX_T_NS, MIN_T_NS, CaptureReader, Frame

WIFI = "wifi/probing-patterns_iPhone11-B.pcap"


def _frames(path: Path) -> tuple[list[Frame], CaptureReader]:
    reader = CaptureReader(path)
    return list(reader.frames()), reader


def test_pcap_matches_scapys_reader(captures_dir: Path) -> None:
    ours, reader = _frames(captures_dir / WIFI)
    with RawPcapReader(str(captures_dir / WIFI)) as scapy_reader:
        theirs = list(scapy_reader)
    assert len(ours) == len(theirs) == reader.frames_read
    for f, (data, meta) in zip(ours, theirs, strict=True):
        assert f.data == data
        assert f.t_ns == (meta.sec * 1_000_000 + meta.usec) * 1000
        assert f.linktype == 127
    assert not reader.skipped


def test_pcapng_written_by_scapy_gives_the_same_frames(captures_dir: Path, tmp_path: Path) -> None:
    ours, _ = _frames(captures_dir / WIFI)
    out = tmp_path / "copy.pcapng"
    with PcapNgWriter(str(out)) as w:
        for f in ours:
            pkt = RadioTap(f.data)
            pkt.time = f.t_ns / 1e9
            w.write(pkt)
    got, reader = _frames(out)
    assert [g.data for g in got] == [f.data for f in ours]
    assert [g.linktype for g in got] == [127] * len(ours)
    # scapy stores microseconds by default; float seconds may round the last microsecond
    assert all(abs(g.t_ns - f.t_ns) <= 1000 for g, f in zip(got, ours, strict=True))
    assert not reader.skipped


def test_real_pcapng_capture_reads(captures_dir: Path) -> None:
    frames, reader = _frames(captures_dir / "ble" / "take_2_ble_all_adv.pcap")
    assert len(frames) == 221 and not reader.skipped
    with RawPcapNgReader(str(captures_dir / "ble" / "take_2_ble_all_adv.pcap")) as scapy_reader:
        theirs = list(scapy_reader)
    assert [f.data for f in frames] == [data for data, _ in theirs]
    assert [f.linktype for f in frames] == [meta.linktype for _, meta in theirs]
    assert [f.t_ns for f in frames] == [
        ((m.tshigh << 32) | m.tslow) * 10**9 // m.tsresol for _, m in theirs
    ]


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def _pcapng(order: str) -> bytes:
    """Two interfaces (127 at nanoseconds with a 10 s offset, 256 at 2^-10 s), EPB and SPB."""
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts0 = struct.pack(order + "HH", 9, 1) + b"\x09\0\0\0"
    opts0 += struct.pack(order + "HHq", 14, 8, 10) + struct.pack(order + "HH", 0, 0)
    idb0 = _block(order, 1, struct.pack(order + "HHI", 127, 0, 0) + opts0)
    opts1 = struct.pack(order + "HH", 9, 1) + b"\x8a\0\0\0" + struct.pack(order + "HH", 0, 0)
    idb1 = _block(order, 1, struct.pack(order + "HHI", 256, 0, 0) + opts1)
    t0 = 1_700_000_000_123_456_789
    epb0 = _block(order, 6, struct.pack(order + "5I", 0, t0 >> 32, t0 & 0xFFFFFFFF, 3, 3) + b"abc")
    t1 = 1_700_000_001 * 1024 + 512  # 0.5 s in 2^-10 units
    epb1 = _block(order, 6, struct.pack(order + "5I", 1, t1 >> 32, t1 & 0xFFFFFFFF, 2, 2) + b"xy")
    spb = _block(order, 3, struct.pack(order + "I", 4) + b"wxyz")
    nrb = _block(order, 4, b"\0\0\0\0")  # name resolution: no frames
    return shb + idb0 + idb1 + epb0 + nrb + epb1 + spb


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_byte_orders(tmp_path: Path, order: str) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(_pcapng(order))
    frames, reader = _frames(path)
    assert [(f.linktype, f.data) for f in frames] == [(127, b"abc"), (256, b"xy"), (127, b"wxyz")]
    assert frames[0].t_ns == 1_700_000_010_123_456_789  # if_tsoffset adds 10 s
    assert frames[1].t_ns == 1_700_000_001_500_000_000
    assert frames[2].t_ns == frames[1].t_ns  # an SPB has no time: the previous one stands
    assert not reader.skipped


@pytest.mark.parametrize(("magic", "order", "unit"), [
    (0xA1B2C3D4, "<", 1000), (0xA1B2C3D4, ">", 1000), (0xA1B23C4D, ">", 1), (0xA1B23C4D, "<", 1),
])
def test_pcap_byte_orders_and_nanoseconds(
    tmp_path: Path, magic: int, order: str, unit: int
) -> None:
    head = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 256)
    rec = struct.pack(order + "IIII", 1_700_000_000, 250, 4, 4) + b"abcd"
    path = tmp_path / "x.pcap"
    path.write_bytes(head + rec + rec)
    frames, _reader = _frames(path)
    assert [(f.t_ns, f.linktype, f.data) for f in frames] == [
        (1_700_000_000 * 10**9 + 250 * unit, 256, b"abcd")
    ] * 2


def test_truncated_pcap_yields_good_frames_and_counts_the_rest(
    captures_dir: Path, tmp_path: Path
) -> None:
    whole = (captures_dir / WIFI).read_bytes()
    full, _ = _frames(captures_dir / WIFI)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    frames, reader = _frames(cut)
    assert 0 < len(frames) < len(full)
    assert [f.data for f in frames] == [f.data for f in full[: len(frames)]]
    assert dict(reader.skipped) == {"truncated_record": 1}


def test_corrupt_pcap_record_length_stops_cleanly(captures_dir: Path, tmp_path: Path) -> None:
    whole = bytearray((captures_dir / WIFI).read_bytes())
    first_len = struct.unpack_from("<I", whole, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", whole, second + 8, 0x7FFFFFFF)  # the second record lies
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(whole))
    frames, reader = _frames(bad)
    assert len(frames) == 1 and dict(reader.skipped) == {"corrupt_record": 1}


def test_truncated_and_corrupt_pcapng(tmp_path: Path) -> None:
    data = _pcapng("<")
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:-6])  # the SPB loses its tail
    frames, reader = _frames(cut)
    assert len(frames) == 2 and dict(reader.skipped) == {"truncated_record": 1}

    bad = bytearray(data)
    bad[-4:] = b"\x99\0\0\0"  # trailing length disagrees with the leading one
    (tmp_path / "bad.pcapng").write_bytes(bytes(bad))
    frames, reader = _frames(tmp_path / "bad.pcapng")
    assert len(frames) == 2 and dict(reader.skipped) == {"corrupt_record": 1}


def test_not_a_capture_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello, this is not a capture")
    frames, reader = _frames(junk)
    assert frames == [] and dict(reader.skipped) == {"not_a_capture": 1}
    frames, reader = _frames(tmp_path / "missing.pcap")
    assert frames == [] and dict(reader.skipped) == {"unreadable_file": 1}
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    frames, reader = _frames(empty)
    assert frames == [] and dict(reader.skipped) == {"not_a_capture": 1}


def test_bytes_read_follows_the_records_and_ends_at_the_file_size(
    captures_dir: Path, tmp_path: Path
) -> None:
    whole = (captures_dir / WIFI).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    for path in (captures_dir / WIFI, cut):
        reader = CaptureReader(path)
        reached = 24  # the file header
        for frame in reader.frames():
            reached += 16 + len(frame.data)
            assert reader.bytes_read == reached  # up to the end of the frame handed out
        assert reader.bytes_read == path.stat().st_size  # a cut-off tail is dealt with too

    ng = tmp_path / "three.pcapng"
    ng.write_bytes(_pcapng("<"))
    reader = CaptureReader(ng)
    marks = [reader.bytes_read for _ in reader.frames()]
    assert marks == sorted(marks) and 0 < marks[0] and marks[-1] == reader.bytes_read
    assert reader.bytes_read == ng.stat().st_size


# --- timestamps are range-checked: a bad one skips its record, never the rest ------------

def _ng_with(tsresol: int, stamps: list[int], tsoffset: int = 0) -> bytes:
    order = "<"
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
    if tsoffset:
        opts += struct.pack(order + "HHq", 14, 8, tsoffset)
    idb = _block(order, 1, struct.pack(order + "HHI", 127, 0, 0) + opts + b"\0\0\0\0")
    epbs = b"".join(
        _block(order, 6, struct.pack(order + "5I", 0, t >> 32, t & 0xFFFFFFFF, 2, 2) + b"ok")
        for t in stamps
    )
    return shb + idb + epbs


GOOD_US = 1_700_000_000_000_000  # 2023, in microseconds


@pytest.mark.parametrize(
    ("why", "tsresol", "stamps", "tsoffset", "good"),
    [
        ("an all-ones timestamp", 6, [GOOD_US, 2**64 - 1, GOOD_US + 1], 0, 2),
        ("if_tsresol 2^0 on microsecond ticks", 0x80, [GOOD_US, GOOD_US + 1], 0, 0),
        ("a negative offset", 6, [GOOD_US], -2_000_000_000, 0),
        ("year 2268", 6, [GOOD_US, 9_400_000_000_000_000], 0, 1),
        ("time zero", 6, [0, GOOD_US], 0, 1),
    ],
)
def test_bad_pcapng_timestamps_are_skipped_and_counted(
    tmp_path: Path, why: str, tsresol: int, stamps: list[int], tsoffset: int, good: int
) -> None:
    path = tmp_path / "t.pcapng"
    path.write_bytes(_ng_with(tsresol, stamps, tsoffset))
    frames, reader = _frames(path)
    assert len(frames) == good, why
    assert reader.skipped.get("bad_timestamp", 0) == len(stamps) - good
    assert all(MIN_T_NS <= f.t_ns < MAX_T_NS for f in frames)


def test_seconds_resolution_is_read_as_seconds(tmp_path: Path) -> None:
    path = tmp_path / "s.pcapng"
    path.write_bytes(_ng_with(0x80, [1_700_000_000, 1_700_000_005]))
    frames, reader = _frames(path)
    assert [f.t_ns for f in frames] == [1_700_000_000 * 10**9, 1_700_000_005 * 10**9]
    assert not reader.skipped


def test_pcap_frames_dated_2106_or_with_bad_fractions_are_skipped(tmp_path: Path) -> None:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)
    rec = lambda sec, usec: struct.pack("<IIII", sec, usec, 2, 2) + b"ok"  # noqa: E731
    path = tmp_path / "p.pcap"
    path.write_bytes(head + rec(1_700_000_000, 5) + rec(0xFFFFFFFF, 0) + rec(1_700_000_001, 10**6)
                     + rec(1_700_000_002, 0))
    frames, reader = _frames(path)
    assert [f.t_ns // 10**9 for f in frames] == [1_700_000_000, 1_700_000_002]
    assert reader.skipped == {"bad_timestamp": 2}
