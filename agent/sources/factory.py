"""The enabled sources of an agent configuration."""

from __future__ import annotations

from roadside.agent.config import AgentConfig
from roadside.agent.sources.base import Source


def build_sources(config: AgentConfig) -> list[Source]:
    """One source per enabled radio (ble, wifi, bt_classic, serial), configured from
    `config`.

    Imports are local: a box without a radio's libraries can still run the others.
    """
    sources: list[Source] = []
    if config.ble_enabled:
        from roadside.agent.sources.ble import BleSource

        sources.append(BleSource(config.ble_adapter, config.ble_passive))
    if config.wifi_enabled:
        from roadside.agent.sources.wifi import WifiSource

        sources.append(
            WifiSource(config.wifi_interface, config.wifi_channels, config.wifi_dwell_s)
        )
    if config.bt_classic_enabled:
        from roadside.agent.sources.bt_classic import BtClassicSource

        sources.append(BtClassicSource(config.bt_classic_adapter))
    if config.serial_enabled:
        from roadside.agent.sources.serial_profile import load_profile
        from roadside.agent.sources.serial_source import SerialSource

        profile = load_profile(config.serial_profile)
        sources.append(SerialSource(config.serial_port, config.serial_baud, profile))
    return sources
