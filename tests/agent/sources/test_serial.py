"""Sniffer boards on a pty pair: a fake nRF52840 speaking Nordic's nRF Sniffer protocol (its
frames checked against scapy's nrf_sniffer dissection), a fake ESP32 streaming the real WiFi
captures as pcap (the same passes as replaying the files), resets, unplugging, garbage."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import time
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from scapy.contrib.nrf_sniffer import NRF2_Packet_Event, NRFS2_Packet
from scapy.layers.bluetooth4LE import BTLE_ADV, BTLE_ADV_IND, BTLE_SCAN_REQ

from roadside.agent.model import AddressKind, Pass, RadioKind, Sighting
from roadside.agent.passes import PassBuilder
from roadside.agent.privacy import DeviceHasher
from roadside.agent.sources import serial_source
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.capfile import CaptureReader
from roadside.agent.sources.replay import sighting_from_frame
from roadside.agent.sources.serial_profile import load_profile
from roadside.agent.sources.serial_source import SerialSource
from roadside.agent.sources.supervisor import Supervisor
from tests.agent.test_privacy_e2e import find_macs
from tests.fixtures.polling import eventually
from tests.fixtures.serial_board import (
    PING_REQ,
    REQ_SCAN_CONT,
    REQ_VERSION,
    SET_HOP,
    WAIT_S,
    FakeEsp32,
    FakeNrfBoard,
    advert_packet,
    slip,
    without_padding,
)

NRF = load_profile("nrf52840-dongle")
ESP32 = load_profile("esp32-pcap")
PHONE = bytes.fromhex("00271302ab01")  # 0xAB inside: SLIP must escape it
TAG = bytes.fromhex("c4bccd00002a")  # random static, with 0xBC and 0xCD
SECRET = b"serial-test-site-secret-0123456789"


async def scanning(board: FakeNrfBoard) -> None:
    assert await asyncio.to_thread(board.scanning.wait, WAIT_S), "board never told to scan"


def test_the_fake_boards_frames_are_what_scapy_dissects() -> None:
    """The frames the fake sends follow the published protocol: scapy reads them (with the
    padding octet taken out, as Nordic's tools do before writing pcap)."""
    v2 = NRFS2_Packet(without_padding(advert_packet(PHONE, False, -67, 38, 1234, version=2,
                                                    counter=7)))
    assert (v2.version, v2.counter, v2.type) == (2, 7, 0x06)
    event = v2[NRF2_Packet_Event]
    assert (event.rf_channel, event.rssi, event.crc_ok, event.delta_time) == (38, 67, 1, 1234)
    assert v2[BTLE_ADV].TxAdd == 0 and v2[BTLE_ADV].PDU_type == 0
    assert v2[BTLE_ADV_IND].AdvA == "00:27:13:02:ab:01"
    scan = NRFS2_Packet(without_padding(advert_packet(TAG, True, -80, 37, 5, pdu_type=3,
                                                      version=2, adv_data=PHONE[::-1])))
    assert scan[BTLE_ADV].TxAdd == 1 and scan[BTLE_SCAN_REQ].ScanA == "c4:bc:cd:00:00:2a"
    assert scan[BTLE_SCAN_REQ].AdvA == "00:27:13:02:ab:01"
    # protocol 3: the same event header, advertising PDUs as packet id 0x02
    v3 = without_padding(advert_packet(PHONE, False, -67, 39, 99, version=3))
    assert NRFS2_Packet(v3).type == 0x02
    assert NRF2_Packet_Event(v3[6:])[BTLE_ADV_IND].AdvA == "00:27:13:02:ab:01"
    assert bytes([0xAB]) in v3 and bytes([0xAB]) not in slip(v3)[1:-1]


async def test_nrf_handshake_adverts_and_garbage(
    nrf_board: FakeNrfBoard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = SerialSource(str(nrf_board.link), 0, NRF)
    assert source.baud == 1_000_000  # the profile's
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await scanning(nrf_board)
    assert nrf_board.ids() == [PING_REQ, REQ_VERSION, SET_HOP, REQ_SCAN_CONT]
    assert nrf_board.commands[2][1] == bytes([3, 37, 38, 39])
    nrf_board.send_raw(b"booting...\r\n")  # text outside any frame
    nrf_board.advert(PHONE, rssi=-67, channel=38, micros=1_000_000)
    nrf_board.advert(TAG, random=True, rssi=-80, channel=37, micros=1_500_000, pdu_type=3,
                     adv_data=PHONE[::-1])  # SCAN_REQ: the scanner is the transmitter
    nrf_board.advert(PHONE, micros=1_600_000, crc_ok=False)  # skipped: bad CRC
    nrf_board.advert(PHONE, micros=1_700_000, access_address=0x12345678)  # a data packet
    nrf_board.send_raw(bytes([0xAB, 1, 2, 0xCD, 0x01, 0xBC]))  # a bad escape
    nrf_board.advert(PHONE, rssi=-61, channel=39, micros=1_900_000, version=2)
    await eventually(lambda: len(got) == 3)
    assert [(s.radio, s.address_kind, s.rssi, s.channel, s.mac) for s in got] == [
        (RadioKind.BLE, AddressKind.BLE_PUBLIC, -67, 38, PHONE),
        (RadioKind.BLE, AddressKind.BLE_RANDOM_STATIC, -80, 37, TAG),
        (RadioKind.BLE, AddressKind.BLE_PUBLIC, -61, 39, PHONE),
    ]
    assert got[1].t_ns - got[0].t_ns == 500_000_000  # the board's microseconds kept
    assert source.board == "nrf52840-dongle 4.1.1"
    assert dict(source.skipped) == {"bad_crc": 1, "not_advertising": 1}
    assert dict(source.garbage) == {"bad_escape": 1}
    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    assert caplog.records  # it logged (the handshake), and no MAC in any spelling
    assert not find_macs(caplog.text.encode(), [PHONE, TAG])


async def test_nrf_board_reset_mid_stream_is_set_scanning_again(
    nrf_board: FakeNrfBoard, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serial_source, "SILENCE_S", 0.2)
    source = SerialSource(str(nrf_board.link), 0, NRF)
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await scanning(nrf_board)
    nrf_board.advert(PHONE, micros=3_000_000_000)
    nrf_board.advert(PHONE, micros=3_000_250_000)
    await eventually(lambda: len(got) == 2)
    nrf_board.reset()  # reboots: idle, counter and clock from zero
    await scanning(nrf_board)  # silence -> ping -> answered -> told to scan again
    assert nrf_board.ids()[-3:] == [PING_REQ, SET_HOP, REQ_SCAN_CONT]
    before = time.time_ns()
    nrf_board.advert(PHONE, micros=40)
    await eventually(lambda: len(got) == 3)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    assert got[1].t_ns - got[0].t_ns == 250_000_000
    assert got[2].t_ns >= before  # re-anchored to the host clock, not 3000 s back


async def test_unplugging_the_board_is_survived(nrf_board: FakeNrfBoard) -> None:
    source = SerialSource(str(nrf_board.link), 0, NRF)
    got: list[Sighting] = []
    sup = Supervisor([source], got.append, None, backoff_initial_s=0.05, backoff_max_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    await scanning(nrf_board)
    nrf_board.advert(PHONE)
    await eventually(lambda: len(got) == 1)

    nrf_board.unplug()  # cable pulled: the read fails, reopening fails for a while
    await eventually(lambda: sup.status()[0].restarts >= 2)
    assert "serial port" in sup.status()[0].last_error

    nrf_board.plug()  # back, at a new pty behind the same path
    await scanning(nrf_board)
    nrf_board.advert(TAG, random=True)
    await eventually(lambda: len(got) == 2)
    assert nrf_board.ids().count(PING_REQ) >= 1 and sup.status()[0].state == "running"
    stop.set()
    await asyncio.wait_for(task, WAIT_S)


async def test_firmware_3_without_version_answers_and_a_silent_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = FakeNrfBoard(tmp_path / "tty-old", answer_version=False)
    old.plug()
    try:
        source = SerialSource(str(old.link), 460800, NRF)
        stop = asyncio.Event()
        task = asyncio.create_task(source.run(lambda _s: None, stop))
        await scanning(old)
        assert source.board == "nrf52840-dongle"
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
    finally:
        old.unplug()
    monkeypatch.setattr(serial_source, "REPLY_TIMEOUT_S", 0.2)
    master, slave = os.openpty()  # a port with nothing answering
    tty.setraw(slave)
    try:
        silent = SerialSource(os.ttyname(slave), 0, NRF)
        with pytest.raises(SourceError, match="no answer to a ping"):
            await asyncio.wait_for(silent.run(lambda _s: None, asyncio.Event()), WAIT_S)
    finally:
        os.close(slave)
        os.close(master)
    missing = SerialSource(str(tmp_path / "nothing"), 0, NRF)
    with pytest.raises(SourceError, match="cannot open"):
        await missing.run(lambda _s: None, asyncio.Event())


def passes_of(sightings: list[Sighting]) -> list[Pass]:
    hasher = DeviceHasher(SECRET)
    builder = PassBuilder("d1")
    out = []
    for s in sightings:
        out += builder.add(hasher.device_id(s.mac, s.t_ns), s.t_ns, s.rssi, s.radio,
                           s.address_kind)
    return sorted(out + builder.flush(), key=lambda p: (p.first_ns, p.device_id))


@dataclasses.dataclass
class Reading:
    """A source reading a board, what it gave, and what replaying the file gives."""

    source: SerialSource
    got: list[Sighting]
    task: asyncio.Task[None]
    replayed: list[Sighting]

    def ended(self) -> None:
        """The source must still be running (else: why it ended)."""
        assert not self.task.done(), self.task.exception()


@contextlib.asynccontextmanager
async def esp32_reading(board: FakeEsp32, path: Path) -> AsyncIterator[Reading]:
    """The source reading the board once its port is open; stopped on the way out, also
    when the test fails (no thread left blocked on the pty)."""
    replayed = [s for f in CaptureReader(path).frames()
                if not isinstance(s := sighting_from_frame(f, "serial"), str)]
    source = SerialSource(str(board.link), 0, ESP32)
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    try:
        await eventually(lambda: source.connected or task.done())
        yield Reading(source, got, task, replayed)
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=WAIT_S)
        if not done:
            task.cancel()


@pytest.mark.parametrize("name", ["probing-patterns_iPhone12-M.pcap",
                                  "probing-patterns_OppoFindX3Neo-A.pcap"])
async def test_a_pcap_streaming_esp32_gives_the_passes_of_replaying_the_file(
    esp32_board: FakeEsp32, captures_dir: Path, name: str,
) -> None:
    path = captures_dir / "wifi" / name
    async with esp32_reading(esp32_board, path) as r:
        await stream_in_chunks(esp32_board, path.read_bytes())
        await eventually(lambda: len(r.got) == len(r.replayed) or r.task.done(), 30)
        r.ended()
    assert passes_of(r.got) == passes_of(r.replayed) and r.replayed
    assert r.source.garbage["skipped_bytes"] > 0  # the boot text


async def stream_in_chunks(board: FakeEsp32, data: bytes) -> None:
    """Boot text, then `data` as a UART delivers it: in chunks of any size."""
    rng = random.Random(7)
    chunks = [b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n"]
    at = 0
    while at < len(data):
        step = rng.randint(1, 3000)
        chunks.append(data[at:at + step])
        at += step

    def send_all() -> None:
        for chunk in chunks:
            board.send_raw(chunk)

    await asyncio.to_thread(send_all)


async def test_an_esp32_restarting_mid_stream_and_one_stamping_time_since_boot(
    esp32_board: FakeEsp32, captures_dir: Path,
) -> None:
    path = captures_dir / "wifi" / "probing-patterns_S21Ultra-M.pcap"
    data = path.read_bytes()
    async with esp32_reading(esp32_board, path) as r:
        # cut inside a record: the board reboots and starts a new stream
        await asyncio.to_thread(esp32_board.send_raw, data[:len(data) // 2]
                                + b"\r\nrst:0xc (SW_CPU_RESET)\r\n" + data)
        # the file's last frame comes only in the second stream: then it is all in
        await eventually(lambda: r.got[-1:] == r.replayed[-1:] or r.task.done(), 30)
        r.ended()
        assert r.got[-len(r.replayed):] == r.replayed  # the second stream, as in the file
        assert r.source.garbage["new_stream"] + r.source.garbage["lost_framing"] >= 1

        # a board without wall-clock time: records from 0 s, anchored to the host clock
        first = len(r.got)
        await asyncio.to_thread(esp32_board.send_raw, since_boot(data))
        await eventually(lambda: len(r.got) >= first + len(r.replayed) or r.task.done(), 30)
        r.ended()
    fresh = r.got[first:]
    assert [s.mac for s in fresh] == [s.mac for s in r.replayed]
    span = r.replayed[-1].t_ns - r.replayed[0].t_ns
    assert fresh[-1].t_ns - fresh[0].t_ns <= span  # spacing kept (or re-anchored closer)
    assert fresh[0].t_ns > r.replayed[-1].t_ns  # near now, not in 1970


def since_boot(data: bytes) -> bytes:
    """The capture as a board without time writes it: record times from 5 s."""
    header, records = data[:24], data[24:]
    out = bytearray(header)
    seconds = int.from_bytes(records[0:4], "little")
    pos = 0
    while pos < len(records):
        caplen = int.from_bytes(records[pos + 8:pos + 12], "little")
        ts = int.from_bytes(records[pos:pos + 4], "little") - seconds + 5
        out += ts.to_bytes(4, "little") + records[pos + 4:pos + 16 + caplen]
        pos += 16 + caplen
    return bytes(out)


def test_profiles_load_and_bad_ones_are_named(tmp_path: Path) -> None:
    assert (NRF.protocol, NRF.baud, NRF.channels) == ("nrf-sniffer", 1_000_000, (37, 38, 39))
    assert (ESP32.protocol, ESP32.baud) == ("pcap", 921_600)
    with pytest.raises(SourceError, match="no profile named"):
        load_profile("no-such-board")
    bad = tmp_path / "bad.yaml"
    bad.write_text("protocol: nrf-sniffer\nbaud: 1000000\nchannels: [36]\n")
    with pytest.raises(SourceError, match="channels must be one to three of 37, 38, 39"):
        load_profile(str(bad))
    bad.write_text("protocol: roadside-line\nbaud: 115200\n")
    with pytest.raises(SourceError, match="protocol must be one of nrf-sniffer, pcap"):
        load_profile(str(bad))
