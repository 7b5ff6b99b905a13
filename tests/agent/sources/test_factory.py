"""build_sources: one configured source per enabled radio."""

from __future__ import annotations

import pytest

from roadside.agent.config import AgentConfig
from roadside.agent.sources.base import SourceError
from roadside.agent.sources.ble import BleSource
from roadside.agent.sources.factory import build_sources
from roadside.agent.sources.serial_source import SerialSource
from roadside.agent.sources.wifi import WifiSource


def test_enabled_sources_are_built_with_their_settings() -> None:
    config = AgentConfig(
        ble_enabled=True, ble_adapter="hci1", ble_passive=True,
        wifi_enabled=True, wifi_interface="mon0", wifi_channels=(1, 11), wifi_dwell_s=0.5,
        serial_enabled=True, serial_port="/dev/ttyACM0", serial_baud=921600,
        serial_profile="esp32-pcap",
    )
    ble, wifi, serial = build_sources(config)
    assert isinstance(ble, BleSource) and (ble.adapter, ble.passive) == ("hci1", True)
    assert isinstance(wifi, WifiSource) and wifi.interface == "mon0"
    assert (wifi.hopper.channels, wifi.hopper.dwell_s) == ((1, 11), 0.5)
    assert isinstance(serial, SerialSource)
    assert (serial.port, serial.baud, serial.profile.board) == ("/dev/ttyACM0", 921600,
                                                                "esp32-pcap")
    assert [s.name for s in (ble, wifi, serial)] == ["ble", "wifi", "serial"]


def test_disabled_sources_are_left_out() -> None:
    assert build_sources(AgentConfig(ble_enabled=False)) == []
    (only,) = build_sources(AgentConfig(ble_enabled=False, serial_enabled=True))
    assert isinstance(only, SerialSource) and only.profile.board == "nrf52840-dongle"
    assert only.baud == 1_000_000  # serial_baud 0: the profile's


def test_unknown_serial_profile_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="serial_profile"):
        build_sources(AgentConfig(ble_enabled=False, serial_enabled=True, serial_profile="nope"))
