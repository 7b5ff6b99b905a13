"""The detector id rule, shared by the agent and central (central.keys imports it).

Ids go into etcd keys, so they never hold a '/' (nor '.', so never '..').
"""

from __future__ import annotations

import re

DETECTOR_ID_PATTERN = "[a-z0-9][a-z0-9_-]{0,62}"
DETECTOR_ID_RE = re.compile(DETECTOR_ID_PATTERN)


def valid_detector_id(text: str) -> bool:
    return DETECTOR_ID_RE.fullmatch(text) is not None
