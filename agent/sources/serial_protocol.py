"""The sniffer boards' line protocol (firmware_config/serial/PROTOCOL.md) and their profiles.

Pure functions, no I/O besides reading a profile: serial_source.py does the talking.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from roadside.agent.sources.base import SourceError

PROTOCOL_VERSION = 1
MAX_LINE = 200
PROFILE_DIRS = (
    Path(__file__).resolve().parents[2] / "firmware_config" / "serial",
    Path("/etc/roadside/serial"),
)

# garbage reasons
TOO_LONG = "too_long"
NOT_ASCII = "not_ascii"
NO_CHECKSUM = "no_checksum"
BAD_CHECKSUM = "bad_checksum"
UNKNOWN_MESSAGE = "unknown_message"
BAD_FIELD = "bad_field"


@dataclass(frozen=True, slots=True)
class Reading:
    """A sighting line: W (WiFi probe request) or B (BLE advertisement)."""

    kind: str  # "W" or "B"
    ms: int  # board milliseconds since boot
    mac: bytes = field(repr=False)  # display order
    random: bool  # BLE TxAdd; False for WiFi
    rssi: int
    channel: int


@dataclass(frozen=True, slots=True)
class Reply:
    """A board's answer to a command: H (hello), OK or ERR."""

    kind: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SerialProfile:
    board: str
    settings: tuple[tuple[str, str], ...]  # (key, value as sent)


def checksum(body: str) -> str:
    return f"{functools.reduce(operator.xor, body.encode('ascii'), 0):02X}"


def encode(body: str) -> bytes:
    """A command line with its checksum and newline."""
    return f"{body}*{checksum(body)}\n".encode("ascii")


def parse_line(raw: bytes) -> Reading | Reply | str | None:
    """One received line -> Reading, Reply, None for a comment, or a garbage reason."""
    if len(raw) > MAX_LINE:
        return TOO_LONG
    try:
        line = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return NOT_ASCII
    if not line or line.startswith("#"):
        return None
    body, star, cs = line.rpartition("*")
    if not star or len(cs) != 2:
        return NO_CHECKSUM
    if cs.upper() != checksum(body):
        return BAD_CHECKSUM
    parts = body.split(",")
    kind = parts[0]
    if kind in ("H", "OK", "ERR"):
        return Reply(kind, tuple(parts[1:]))
    if kind == "W" and len(parts) == 5:
        return _reading(kind, parts[1], parts[2], "P", parts[3], parts[4])
    if kind == "B" and len(parts) == 6:
        return _reading(kind, parts[1], parts[2], parts[3], parts[4], parts[5])
    return UNKNOWN_MESSAGE if kind not in ("W", "B") else BAD_FIELD


def _reading(kind: str, ms: str, mac: str, addr: str, rssi: str, ch: str) -> Reading | str:
    octets = mac.split(":")
    if len(octets) != 6 or any(len(o) != 2 for o in octets) or addr not in ("P", "R"):
        return BAD_FIELD
    try:
        raw_mac = bytes.fromhex("".join(octets))
        values = int(ms), int(rssi), int(ch)
    except ValueError:
        return BAD_FIELD
    if values[0] < 0 or not -128 <= values[1] <= 20 or not 0 <= values[2] <= 200:
        return BAD_FIELD
    return Reading(kind, values[0], raw_mac, addr == "R", values[1], values[2])


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
    if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict):
        raise SourceError(f"serial_profile: {path} must be a mapping with a settings mapping")
    if data.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise SourceError(f"serial_profile: {path}: protocol must be {PROTOCOL_VERSION}")
    settings = []
    for key, value in (data.get("settings") or {}).items():
        text = ";".join(str(v) for v in value) if isinstance(value, list) else str(value)
        if not str(key).isidentifier() or any(c in text for c in ",*\n"):
            raise SourceError(f"serial_profile: {path}: bad setting {key!r}")
        settings.append((str(key), text))
    return SerialProfile(str(data.get("board", path.stem)), tuple(settings))
