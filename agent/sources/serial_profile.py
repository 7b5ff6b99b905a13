"""Sniffer board profiles (firmware_config/serial/<name>.yaml): which firmware protocol a
board speaks, at what speed, and what the agent asks of it.

    board: nrf52840-dongle        # a name for logs and status
    protocol: nrf-sniffer         # nrf-sniffer (Nordic's nRF Sniffer for Bluetooth LE)
                                  # or pcap (a pcap stream, e.g. an ESP32 WiFi sniffer)
    baud: 1000000                 # the firmware's UART speed (serial_baud overrides)
    channels: [37, 38, 39]        # nrf-sniffer: advertising channels to hop over
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from roadside.agent.model import RadioKind
from roadside.agent.sources.base import SourceError

PROTOCOLS = ("nrf-sniffer", "pcap")
# the packaged profiles (found in a wheel install as in a checkout), then the box's own
PROFILE_DIRS = (
    Path(str(resources.files("roadside.firmware_config") / "serial")),
    Path("/etc/roadside/serial"),
)
ADVERTISING_CHANNELS = (37, 38, 39)


@dataclass(frozen=True, slots=True)
class SerialProfile:
    board: str
    protocol: str  # one of PROTOCOLS
    baud: int
    channels: tuple[int, ...] = ADVERTISING_CHANNELS


def serial_radio(name: str) -> RadioKind:
    """What a board of this profile hears: BLE (nRF Sniffer), else WiFi (a pcap sniffer);
    WiFi when the profile cannot be read (the agent says why when it starts the source)."""
    try:
        profile = load_profile(name)
    except SourceError:
        return RadioKind.WIFI
    return RadioKind.BLE if profile.protocol == "nrf-sniffer" else RadioKind.WIFI


def find_profile(name: str) -> Path:
    """A profile by name (firmware_config/serial/<name>.yaml, /etc/roadside/serial) or path."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    for d in PROFILE_DIRS:
        if (d / f"{name}.yaml").is_file():
            return d / f"{name}.yaml"
    raise SourceError(f"serial_profile: no profile named {name!r} in {PROFILE_DIRS[0]}")


def load_profile(name: str) -> SerialProfile:
    path = find_profile(name)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"serial_profile: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SourceError(f"serial_profile: {path} must be a mapping")
    protocol = data.get("protocol")
    if protocol not in PROTOCOLS:
        raise SourceError(f"serial_profile: {path}: protocol must be one of "
                          f"{', '.join(PROTOCOLS)}, got {protocol!r}")
    baud = data.get("baud")
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise SourceError(f"serial_profile: {path}: baud must be a positive whole number, "
                          f"got {baud!r}")
    channels = data.get("channels", list(ADVERTISING_CHANNELS))
    if (not isinstance(channels, list) or not 1 <= len(channels) <= 3
            or any(c not in ADVERTISING_CHANNELS for c in channels)):
        raise SourceError(f"serial_profile: {path}: channels must be one to three of "
                          f"37, 38, 39, got {channels!r}")
    return SerialProfile(str(data.get("board", path.stem)), protocol, baud, tuple(channels))
