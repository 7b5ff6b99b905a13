"""ReplaySource over the real captures: merging, kinds, speed, shift to now, damaged files."""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from pathlib import Path

import pytest

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.replay import DAY_NS, FAST, ReplaySource

POS1 = "wifi/sc6-61_2024-02-08_position_1.pcap"
POS2 = "wifi/sc6-61_2024-02-08_position_2.pcap"
BLE_KINDS = {
    AddressKind.BLE_PUBLIC, AddressKind.BLE_RANDOM_STATIC, AddressKind.BLE_RESOLVABLE,
    AddressKind.BLE_NON_RESOLVABLE,
}


async def _play(source: ReplaySource) -> list[Sighting]:
    got: list[Sighting] = []
    await asyncio.wait_for(source.run(got.append, asyncio.Event()), 60)
    return got


async def _play_until_first(source: ReplaySource) -> list[Sighting]:
    """Run the source, setting stop at its first sighting: what it emitted."""
    stop = asyncio.Event()
    got: list[Sighting] = []

    def emit(s: Sighting) -> None:
        got.append(s)
        stop.set()

    await asyncio.wait_for(source.run(emit, stop), 30)
    return got


async def test_two_captures_merge_by_time(captures_dir: Path) -> None:
    source = ReplaySource([captures_dir / POS1, captures_dir / POS2], speed=FAST)
    got = await _play(source)
    assert len(got) == 13238 + 15345
    assert all(a.t_ns <= b.t_ns for a, b in itertools.pairwise(got))
    assert {s.radio for s in got} == {RadioKind.WIFI}
    assert len({s.mac for s in got}) == 674 + 768 - 246
    st = source.stats()
    assert (st.frames_read, st.sightings, st.skipped, st.finished) == (28583, 28583, {}, True)
    assert source.finished.is_set()


async def test_ble_captures_give_ble_kinds(captures_dir: Path) -> None:
    source = ReplaySource(sorted((captures_dir / "ble").glob("*.pcap")), speed=FAST)
    got = await _play(source)
    assert got and {s.radio for s in got} == {RadioKind.BLE}
    assert {s.address_kind for s in got} <= BLE_KINDS
    st = source.stats()
    assert st.skipped["not_advertising"] > 0
    assert st.sightings + sum(st.skipped.values()) == st.frames_read


def _pcap(path: Path, times_s: list[int]) -> None:
    probe = bytes([0x40, 0]) + b"\0\0" + b"\xff" * 6 + bytes.fromhex("02aabbccddee") + b"\xff" * 8
    radiotap = struct.pack("<BBHI", 0, 0, 8, 0)
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)
    for t in times_s:
        out += struct.pack("<IIII", t, 0, len(radiotap + probe), len(radiotap + probe))
        out += radiotap + probe
    path.write_bytes(out)


async def test_original_timing_waits_between_frames(tmp_path: Path) -> None:
    _pcap(tmp_path / "hour.pcap", [1_700_000_000, 1_700_003_600])  # an hour apart
    source = ReplaySource([tmp_path / "hour.pcap"])  # speed 1: the second is an hour away
    got = await _play_until_first(source)
    assert len(got) == 1 and not source.finished.is_set()


async def test_shift_to_now_keeps_spacing_and_time_of_day_and_ends_within_a_day(
    tmp_path: Path,
) -> None:
    _pcap(tmp_path / "two.pcap", [1_600_000_000, 1_600_000_002])
    before = time.time_ns()
    got = await _play(ReplaySource([tmp_path / "two.pcap"], speed=1000.0, shift_to_now=True))
    after = time.time_ns()
    assert got[1].t_ns - got[0].t_ns == 2_000_000_000
    assert (got[0].t_ns - 1_600_000_000 * 10**9) % DAY_NS == 0  # whole days: time of day kept
    assert before - DAY_NS < got[1].t_ns <= after + 10**9  # ends by the end of playback


async def test_shift_to_now_again_gives_the_same_times(tmp_path: Path) -> None:
    """A replay restarted (after a kill) writes the same passes, not new ones."""
    _pcap(tmp_path / "two.pcap", [1_600_000_000, 1_600_000_002])
    first = await _play(ReplaySource([tmp_path / "two.pcap"], speed=FAST, shift_to_now=True))
    again = await _play(ReplaySource([tmp_path / "two.pcap"], speed=FAST, shift_to_now=True))
    assert [s.t_ns for s in first] == [s.t_ns for s in again]


async def test_fast_shift_to_now_ends_by_the_start(tmp_path: Path) -> None:
    _pcap(tmp_path / "two.pcap", [1_600_000_000, 1_600_000_002])
    before = time.time_ns()
    got = await _play(ReplaySource([tmp_path / "two.pcap"], speed=FAST, shift_to_now=True))
    assert before - DAY_NS < got[-1].t_ns <= time.time_ns()


async def test_truncated_capture_replays_good_frames_and_reports(
    captures_dir: Path, tmp_path: Path
) -> None:
    whole = (captures_dir / POS1).read_bytes()
    (tmp_path / "cut.pcap").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "junk.pcapng").write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    source = ReplaySource([tmp_path / "cut.pcap", tmp_path / "junk.pcapng"], speed=FAST)
    got = await _play(source)
    st = source.stats()
    assert 5000 < len(got) < 13238
    assert st.skipped == {"truncated_record": 1, "corrupt_record": 1}
    assert st.finished


async def test_bytes_read_grow_to_the_files_total(captures_dir: Path) -> None:
    files = [captures_dir / POS1, captures_dir / POS2]
    source = ReplaySource(files, speed=FAST)
    marks: list[tuple[int, int]] = []

    def emit(s: Sighting) -> None:
        if source.stats().sightings % 2000 == 0:
            st = source.stats()
            marks.append((st.bytes_read, st.bytes_total))

    await asyncio.wait_for(source.run(emit, asyncio.Event()), 60)
    total = sum(f.stat().st_size for f in files)
    assert len(marks) > 5 and all(t == total for _, t in marks)
    read = [r for r, _ in marks]
    assert read == sorted(read) and 0 < read[0] < total
    st = source.stats()
    assert st.bytes_read == st.bytes_total == total


async def test_stop_ends_a_fast_replay(captures_dir: Path) -> None:
    source = ReplaySource([captures_dir / POS1, captures_dir / POS2], speed=FAST)
    got = await _play_until_first(source)
    assert 0 < len(got) < 28583 and not source.finished.is_set()


@pytest.mark.parametrize("speed", [0.0, -1.0, "slow"])
def test_bad_speed_is_a_clear_error(speed: object) -> None:
    with pytest.raises(SourceError, match="speed"):
        ReplaySource(["x.pcap"], speed=speed)  # type: ignore[arg-type]


async def test_pcapng_copy_replays_like_the_pcap(captures_dir: Path, tmp_path: Path) -> None:
    from scapy.layers.bluetooth4LE import BTLE_RF
    from scapy.utils import PcapNgWriter

    from roadside.agent.sources.capfile import CaptureReader

    src = captures_dir / "ble" / "take_2_adv37.pcap"
    copy = tmp_path / "adv37.pcapng"
    with PcapNgWriter(str(copy)) as w:
        for frame in CaptureReader(src).frames():
            pkt = BTLE_RF(frame.data)
            pkt.time = frame.t_ns / 1e9
            w.write(pkt)

    def key(s: Sighting) -> tuple[bytes, int | None, AddressKind, int | None]:
        return s.mac, s.rssi, s.address_kind, s.channel

    from_pcap = await _play(ReplaySource([src], speed=FAST))
    from_pcapng = await _play(ReplaySource([copy], speed=FAST))
    assert from_pcap and [key(s) for s in from_pcapng] == [key(s) for s in from_pcap]
    # scapy carries the time as a float: the last microsecond may round
    assert all(abs(a.t_ns - b.t_ns) <= 1000 for a, b in zip(from_pcap, from_pcapng, strict=True))


async def test_bare_80211_linktype(tmp_path: Path) -> None:
    probe = bytes([0x40, 0]) + b"\0\0" + b"\xff" * 6 + bytes.fromhex("00c0ffee0001") + b"\xff" * 8
    path = tmp_path / "bare.pcap"
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)
    path.write_bytes(head + struct.pack("<IIII", 1_700_000_000, 0, len(probe), len(probe)) + probe)
    (s,) = await _play(ReplaySource([path], speed=FAST))
    assert (s.mac.hex(), s.address_kind, s.rssi) == ("00c0ffee0001", AddressKind.WIFI_GLOBAL, None)
