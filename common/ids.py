"""Id rules both sides check: detector ids (they go into etcd keys, so never a '/' nor a '.')
and device ids (a keyed hash of a MAC: 128 bits as lower-case hex)."""

from __future__ import annotations

import re

DETECTOR_ID_PATTERN = "[a-z0-9][a-z0-9_-]{0,62}"
DETECTOR_ID_RE = re.compile(DETECTOR_ID_PATTERN)


def valid_detector_id(text: str) -> bool:
    return DETECTOR_ID_RE.fullmatch(text) is not None


DEVICE_ID_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
DEVICE_ID_RE = re.compile(f"[0-9a-f]{{{2 * DEVICE_ID_BYTES}}}")


def valid_endpoint(text: str) -> bool:
    """HOST:PORT with a TCP port (1..65535)."""
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536
