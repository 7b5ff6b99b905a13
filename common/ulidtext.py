"""ULID text from its 16 bytes, fast: the agent names every pass, central every pass it reads."""

from __future__ import annotations

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> 2 characters


def ulid_text(data: bytes) -> str:
    """A ULID's 16 bytes as its 26 Crockford base32 characters (as str(ULID) gives them):
    13 pairs of characters, 10 bits each, the first pair's top 2 bits zero."""
    n, t = int.from_bytes(data, "big"), _PAIRS
    return "".join([t[n >> 120], t[(n >> 110) & 1023], t[(n >> 100) & 1023],
                    t[(n >> 90) & 1023], t[(n >> 80) & 1023], t[(n >> 70) & 1023],
                    t[(n >> 60) & 1023], t[(n >> 50) & 1023], t[(n >> 40) & 1023],
                    t[(n >> 30) & 1023], t[(n >> 20) & 1023], t[(n >> 10) & 1023],
                    t[n & 1023]])
