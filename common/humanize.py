"""Figures as tables show them to people: durations, sizes, rates (never in JSON or CSV)."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def rate_text(state: str, per_minute: float, digits: int = 0) -> str:
    """Sightings per minute as status tables show it: "-" for a finished source (a replay
    at its end hears nothing more; its rate was over the capture's own time)."""
    return "-" if state == "finished" else f"{per_minute:,.{digits}f}"


def plural(n: int, word: str) -> str:
    """'1 event', '2 events'."""
    return f"{n} {word}{'' if n == 1 else 's'}"
