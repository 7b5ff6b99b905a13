"""Serial sniffer board on a pty pair: settings sent, lines -> sightings, garbage, unplugging."""

from __future__ import annotations

import asyncio
import logging
import os
import tty
from pathlib import Path

import pytest

from roadside.agent.model import AddressKind, RadioKind, Sighting
from roadside.agent.sources import serial_source
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.serial_protocol import (
    SerialProfile,
    checksum,
    encode,
    load_profile,
    parse_line,
)
from roadside.agent.sources.serial_source import SerialSource
from roadside.agent.sources.supervisor import Supervisor
from tests.agent.test_privacy_e2e import find_macs
from tests.fixtures.polling import eventually
from tests.fixtures.serial_board import WAIT_S, FakeBoard

PROFILE = load_profile("esp32-wifi")


async def _started(board: FakeBoard) -> None:
    assert await asyncio.to_thread(board.started.wait, WAIT_S), "board never got START"


async def test_settings_sent_lines_become_sightings_garbage_counted(
    serial_board: FakeBoard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = SerialSource(str(serial_board.link), 115200, PROFILE)
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await _started(serial_board)
    assert serial_board.commands == [
        "HELLO,1", "SET,channels,1;6;11", "SET,dwell_ms,250", "SET,report,W",
        "SET,min_rssi,-95", "START",
    ]
    serial_board.send("W,1000,da:a1:19:00:00:01,-67,6")
    serial_board.send_raw(b"W,1001,da:a1:19:00:00:02,-60,6*00\n")  # wrong checksum
    serial_board.send_raw(b"\xff\xfe binary noise\n")
    serial_board.send_raw(b"# a debug line from the firmware\n")
    serial_board.send("W,1002,not-a-mac,-60,6")
    serial_board.send("Z,what")
    serial_board.send_raw(b"x" * 500 + b"\n")  # over-long
    serial_board.send("B,1500,c4:00:00:00:00:2a,R,-80,37")
    serial_board.send_raw(encode("B,1600,00:1a:7d:da:71:13,P,-71,38").replace(b"\n", b"\r\n"))
    await eventually(lambda: len(got) == 3)
    assert [(s.radio, s.address_kind, s.rssi, s.channel) for s in got] == [
        (RadioKind.WIFI, AddressKind.WIFI_LOCAL, -67, 6),
        (RadioKind.BLE, AddressKind.BLE_RANDOM_STATIC, -80, 37),
        (RadioKind.BLE, AddressKind.BLE_PUBLIC, -71, 38),
    ]
    assert got[0].mac == bytes.fromhex("daa119000001")
    assert got[1].t_ns - got[0].t_ns == 500_000_000  # board time spacing kept
    assert dict(source.garbage) == {
        "bad_checksum": 1, "not_ascii": 1, "bad_field": 1, "unknown_message": 1, "too_long": 1,
    }
    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    assert "STOP" in serial_board.commands
    assert caplog.records  # it logged (the handshake), and no MAC in any spelling
    assert not find_macs(caplog.text.encode(), [s.mac for s in got])


async def test_port_vanishing_and_returning_is_survived(serial_board: FakeBoard) -> None:
    source = SerialSource(str(serial_board.link), 115200, PROFILE)
    got: list[Sighting] = []
    sup = Supervisor([source], got.append, None, backoff_initial_s=0.05, backoff_max_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    await _started(serial_board)
    serial_board.send("W,10,da:a1:19:00:00:01,-67,1")
    await eventually(lambda: len(got) == 1)

    serial_board.unplug()  # cable pulled: the read fails, reopening fails for a while
    await eventually(lambda: sup.status()[0].restarts >= 2)
    assert sup.status()[0].state in ("restarting", "running")
    assert "serial port" in sup.status()[0].last_error

    serial_board.plug()  # back, at a new pty behind the same path
    await _started(serial_board)
    serial_board.send("W,20,da:a1:19:00:00:02,-61,11")
    await eventually(lambda: len(got) == 2)
    assert serial_board.commands.count("HELLO,1") == 2  # the handshake was redone
    assert sup.status()[0].state == "running"
    stop.set()
    await asyncio.wait_for(task, WAIT_S)


async def test_refused_setting_and_missing_port_raise_source_error(tmp_path: Path) -> None:
    board = FakeBoard(tmp_path / "tty-refuses", refuse=frozenset({"dwell_ms"}))
    board.plug()
    try:
        source = SerialSource(str(board.link), 115200, PROFILE)
        with pytest.raises(SourceError, match="refused SET dwell_ms"):
            await asyncio.wait_for(source.run(lambda _s: None, asyncio.Event()), WAIT_S)
    finally:
        board.unplug()
    missing = SerialSource(str(tmp_path / "nothing"), 115200, PROFILE)
    with pytest.raises(SourceError, match="cannot open"):
        await missing.run(lambda _s: None, asyncio.Event())


async def test_silent_board_fails_the_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serial_source, "REPLY_TIMEOUT_S", 0.2)
    master, slave = os.openpty()  # a port with nothing answering
    tty.setraw(slave)
    try:
        source = SerialSource(os.ttyname(slave), 115200, SerialProfile("x", ()))
        with pytest.raises(SourceError, match="no answer to HELLO"):
            await asyncio.wait_for(source.run(lambda _s: None, asyncio.Event()), WAIT_S)
    finally:
        os.close(slave)
        os.close(master)


def test_checksum_and_parsing() -> None:
    assert checksum("W,123456,da:a1:19:00:00:01,-67,6") == "2C"
    assert parse_line(b"# boot") is None
    assert parse_line(b"W,1,da:a1:19:00:00:01,-67,6") == "no_checksum"
    reading = parse_line(b"W,123456,da:a1:19:00:00:01,-67,6*2c\r")
    assert not isinstance(reading, str | None)
    assert "da:a1" not in repr(reading) and "daa1" not in repr(reading)  # MAC stays out of repr


def test_profiles_load() -> None:
    nrf = load_profile("nrf-ble")
    assert dict(nrf.settings)["channels"] == "37;38;39" and dict(nrf.settings)["report"] == "B"
    with pytest.raises(SourceError, match="no profile named"):
        load_profile("no-such-board")


async def test_board_reset_refixes_its_clock(serial_board: FakeBoard) -> None:
    source = SerialSource(str(serial_board.link), 115200, PROFILE)
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await _started(serial_board)
    serial_board.send("W,5000000,da:a1:19:00:00:01,-67,6")
    serial_board.send("W,5000250,da:a1:19:00:00:01,-66,6")
    serial_board.send("# rst:0x1 (POWERON_RESET)")  # the board rebooted: its ms restart
    serial_board.send("W,40,da:a1:19:00:00:01,-65,6")
    await eventually(lambda: len(got) == 3)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    assert got[1].t_ns - got[0].t_ns == 250_000_000
    assert got[2].t_ns >= got[0].t_ns  # re-fixed to the host clock, not 5000 s back
