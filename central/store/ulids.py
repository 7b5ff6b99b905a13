"""ULIDs central makes itself, deterministically, so a resent message maps to the same key."""

from __future__ import annotations

import hashlib

from ulid import ULID

NS_PER_MS = 1_000_000


def deterministic_ulid(t_ns: int, *parts: str) -> str:
    """A ULID whose time is t_ns (ms) and whose randomness is a hash of t_ns and `parts`."""
    ms = max(0, t_ns // NS_PER_MS)
    seed = "\x1f".join([str(t_ns), *parts]).encode()
    tail = hashlib.sha256(seed).digest()[:10]
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + tail))


def ulid_floor(t_ns: int) -> str:
    """The smallest ULID of t_ns's millisecond: ULIDs sort by time, so a range starts here."""
    ms = max(0, t_ns // NS_PER_MS)
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + bytes(10)))
