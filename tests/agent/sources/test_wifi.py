"""WiFi source: channel hopping against a fake `iw`, the capture path on real frames."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

import pytest
from scapy.arch.common import compile_filter
from scapy.layers.dot11 import Dot11, Dot11Beacon, Dot11Elt, Dot11ProbeReq, RadioTap
from scapy.libs.winpcapy import pcap_pkthdr
from scapy.utils import RawPcapReader, wrpcap

from roadside.agent.model import AddressKind, Sighting
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.capfile import CaptureReader
from roadside.agent.sources.dot11 import LINKTYPE_RADIOTAP
from roadside.agent.sources.wifi import PROBE_REQ_FILTER, ChannelHopper, WifiSource
from tests.fixtures.polling import eventually

WAIT_S = 10.0
IPHONE = "wifi/probing-patterns_iPhone11-B.pcap"

FAKE_IW = """#!/bin/sh
echo "$*" >> "{log}"
exit $(cat "{rc}")
"""


@pytest.fixture
def fake_iw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An `iw` first on PATH that records its arguments; its exit code is in a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, rc = tmp_path / "iw.log", tmp_path / "iw.rc"
    rc.write_text("0")
    log.touch()
    iw = bin_dir / "iw"
    iw.write_text(FAKE_IW.format(log=log, rc=rc))
    iw.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log, rc


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


async def test_hopper_walks_the_channel_plan(fake_iw: tuple[Path, Path]) -> None:
    log, _ = fake_iw
    hopper = ChannelHopper("wlan1mon", [1, 6, 11], dwell_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(hopper.run(stop))
    await eventually(lambda: len(_calls(log)) >= 5, WAIT_S)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)
    assert _calls(log)[:5] == [f"dev wlan1mon set channel {c}" for c in (1, 6, 11, 1, 6)]
    assert hopper.current in (1, 6, 11) and hopper.failures == 0


async def test_hopper_gives_up_after_repeated_failures(fake_iw: tuple[Path, Path]) -> None:
    log, rc = fake_iw
    rc.write_text("1")
    hopper = ChannelHopper("wlan1mon", [1, 6, 11], dwell_s=0.0)
    with pytest.raises(SourceError, match="5 channel switches failed"):
        await asyncio.wait_for(hopper.run(asyncio.Event()), WAIT_S)
    assert len(_calls(log)) == 5 and hopper.current is None


def _offline_filter() -> ctypes._CFuncPtr:
    """libpcap's pcap_offline_filter(prog, header, data) -> bool."""
    name = ctypes.util.find_library("pcap")
    if name is None:
        pytest.skip("libpcap is needed (apt install libpcap0.8)")
    fn = ctypes.CDLL(name).pcap_offline_filter
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(pcap_pkthdr), ctypes.c_char_p]
    return fn


class OfflineCapture:
    """Frames of a pcap read by scapy and passed through the source's own BPF filter,
    compiled and run by libpcap: what the kernel does for the live socket."""

    linktype = LINKTYPE_RADIOTAP

    def __init__(self, path: Path) -> None:
        self._reader = RawPcapReader(str(path))
        self._bpf = compile_filter(PROBE_REQ_FILTER, linktype=LINKTYPE_RADIOTAP)
        self._filter = _offline_filter()
        self.filtered_out = 0
        self.drained = threading.Event()

    def read(self, timeout: float) -> tuple[bytes, float | None] | None:
        for data, meta in self._reader:
            hdr = pcap_pkthdr()
            hdr.caplen = hdr.len = len(data)
            if self._filter(ctypes.byref(self._bpf), ctypes.byref(hdr), data):
                return data, meta.sec + meta.usec / 1e6
            self.filtered_out += 1
        self.drained.set()  # then quiet, as an interface with nothing to hear
        return None

    def close(self) -> None:
        self._reader.close()


def _mixed_capture(captures_dir: Path, out: Path) -> int:
    """The real probe requests with beacons and data frames between them."""
    frames = []
    probes = 0
    for i, frame in enumerate(CaptureReader(captures_dir / IPHONE).frames()):
        frames.append(RadioTap(frame.data))
        probes += 1
        if i % 10 == 0:
            frames.append(RadioTap() / Dot11(type=0, subtype=8, addr2="00:11:22:33:44:55")
                          / Dot11Beacon() / Dot11Elt(ID=0, info=b"ap"))
            frames.append(RadioTap() / Dot11(type=2, subtype=0, addr2="02:11:22:33:44:55"))
    frames.append(RadioTap() / Dot11(type=0, subtype=4, addr2="00:0c:29:00:00:01")
                  / Dot11ProbeReq() / Dot11Elt(ID=0, info=b""))
    wrpcap(str(out), frames)
    return probes + 1


async def test_capture_path_with_the_probe_request_filter(
    captures_dir: Path, tmp_path: Path, fake_iw: tuple[Path, Path]
) -> None:
    path = tmp_path / "mixed.pcap"
    probes = _mixed_capture(captures_dir, path)
    captures: list[OfflineCapture] = []

    def open_capture(_iface: str) -> OfflineCapture:
        captures.append(OfflineCapture(path))
        return captures[0]

    source = WifiSource("wlan1mon", [1, 6, 11], 0.01, capture=open_capture)
    got: list[Sighting] = []
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(got.append, stop))
    await eventually(lambda: bool(captures) and captures[0].drained.is_set(), WAIT_S)
    await eventually(lambda: len(got) == probes, WAIT_S)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)

    assert captures[0].filtered_out > 0  # beacons and data frames never reach the parser
    assert source.frames == probes and not source.skipped
    kinds = {s.address_kind for s in got}
    assert kinds == {AddressKind.WIFI_LOCAL, AddressKind.WIFI_GLOBAL}
    assert got[-1].address_kind is AddressKind.WIFI_GLOBAL  # 00:0c:29: a vendor address
    assert got[-1].channel in (1, 6, 11)  # no radiotap channel: the hopper's channel
    assert all(s.channel for s in got)
    assert _calls(fake_iw[0])  # the hopper ran meanwhile


async def test_interface_not_in_monitor_mode_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such interface"):
        await WifiSource("nonexistent0").run(lambda _s: None, asyncio.Event())
    with pytest.raises(SourceError, match="not in monitor mode"):
        await WifiSource("lo").run(lambda _s: None, asyncio.Event())
