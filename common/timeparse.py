"""Times on the command line: RFC 3339 (`2026-11-27T18:00:00Z`) or relative (`15m`, `now`).

Relative units: s, m, h, d, w; a relative time is that long before now. An RFC 3339 time
without an offset is local time.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from roadside.common.config_layers import ConfigError
from roadside.common.errors import RoadsideError

NS_PER_S = 1_000_000_000
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_RELATIVE = re.compile(r"-?(\d+(?:\.\d+)?)([smhdw])")
HINT = "RFC 3339 like 2026-11-27T18:00:00Z, or relative like 90s, 15m, 2h, 1d, now"


class TimeError(RoadsideError, ValueError):
    """A time argument that is neither RFC 3339 nor relative; the message names the option."""


def parse_time(text: str, option: str = "time", now_ns: int | None = None) -> int:
    """Unix nanoseconds for `text`; TimeError naming `option` when it is not a time."""
    now = time.time_ns() if now_ns is None else now_ns
    value = text.strip().lower()
    if value == "now":
        return now
    match = _RELATIVE.fullmatch(value)
    if match:
        return now - int(float(match.group(1)) * _UNITS_S[match.group(2)] * NS_PER_S)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise TimeError(f"bad time for {option}: {text!r} (expected {HINT})") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time
    seconds = int(parsed.timestamp())
    if seconds < 0:
        raise TimeError(f"bad time for {option}: {text!r} is before 1970")
    return seconds * NS_PER_S + parsed.microsecond * 1000


def format_local(t_ns: int) -> str:
    """A time for tables: local, to the millisecond, with the zone's abbreviation."""
    if t_ns <= 0:
        return "-"
    moment = datetime.fromtimestamp(t_ns / NS_PER_S).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + moment.strftime(" %Z")


def format_utc(t_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds (for JSON and CSV)."""
    seconds, ns = divmod(t_ns, NS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns:09d}Z"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str, option: str = "--duration") -> float:
    """'2h', '90m', '1h30m', '45s' -> seconds; ConfigError naming the option otherwise."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"{option}: expected a duration like 90s, 15m, 2h or 1h30m, "
                          f"got {text!r}")
    seconds = sum(float(n) * _UNITS_S[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"{option}: must be longer than 0")
    return seconds
