"""Simulated captures: standard pcap that scapy and the agent's own reader both understand."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.bluetooth4LE import BTLE, BTLE_ADV, BTLE_RF
from scapy.layers.dot11 import Dot11, RadioTap
from scapy.utils import rdpcap

from roadside.agent.model import RadioKind
from roadside.agent.sources.capfile import CaptureReader
from roadside.agent.sources.replay import sighting_from_frame
from roadside.sim.capwriter import CaptureSummary, ble_crc, write_detector
from roadside.sim.network import load_network
from roadside.sim.traffic import NS, simulate

START_NS = 1_764_244_800 * NS  # 2025-11-27 12:00 UTC
DETECTOR = "mill-bridge"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, CaptureSummary]:
    sim = simulate(load_network(), START_NS, 600, seed=8)
    out = tmp_path_factory.mktemp("caps")
    summary = CaptureSummary()
    write_detector(out, DETECTOR, sim.sightings(DETECTOR), summary)
    return sim, out, summary


def test_the_agent_reader_gets_back_every_wifi_and_ble_sighting(written: tuple) -> None:
    sim, out, summary = written
    sent = [s for s in sim.sightings(DETECTOR) if s.radio is not RadioKind.BT_CLASSIC]
    back = []
    for path in sorted(out.glob("*.pcap")):
        for frame in CaptureReader(path).frames():
            s = sighting_from_frame(frame, "replay")
            assert not isinstance(s, str), s
            back.append(s)

    def key(s: object) -> tuple:
        return (s.t_ns, s.mac, s.rssi, s.radio, s.address_kind, s.channel)  # type: ignore[attr-defined]

    assert sorted(map(key, back)) == sorted(map(key, sent))
    bt = sum(1 for s in sim.sightings(DETECTOR) if s.radio is RadioKind.BT_CLASSIC)
    assert summary.skipped == {"bt_classic: no capture format": bt}
    assert summary.frames == len(sent)


def test_scapy_reads_probe_requests_with_radiotap_and_ble_adverts_with_valid_crc(
    written: tuple,
) -> None:
    sim, out, _ = written
    wifi = rdpcap(str(out / f"{DETECTOR}.wifi.pcap"))
    ble = rdpcap(str(out / f"{DETECTOR}.ble.pcap"))
    sent_wifi = [s for s in sim.sightings(DETECTOR) if s.radio is RadioKind.WIFI]
    sent_ble = [s for s in sim.sightings(DETECTOR) if s.radio is RadioKind.BLE]
    assert len(wifi) == len(sent_wifi) and len(ble) == len(sent_ble)
    first = wifi[0]
    assert first.haslayer(RadioTap) and first[Dot11].subtype == 4
    assert first[Dot11].addr2 == sent_wifi[0].mac.hex(":")
    assert first[RadioTap].dBm_AntSignal == sent_wifi[0].rssi
    for pkt, s in zip(ble, sent_ble, strict=True):
        assert pkt.haslayer(BTLE_RF) and pkt[BTLE_ADV].AdvA == s.mac.hex(":")
        pdu = bytes(pkt[BTLE].payload)
        assert BTLE.compute_crc(pdu) == ble_crc(pdu)
        assert pkt[BTLE].crc.to_bytes(3, "big") == ble_crc(pdu)  # as sent
