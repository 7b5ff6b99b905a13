"""Per-key token buckets: each detector's ingest quota and status-report rate.

A bucket holds up to `burst` tokens and refills at `per_s`; `take(key, n)` spends n or
raises ResourceExhausted saying when to come back. Buckets live in this process: with
several central replicas each enforces its own share. Idle buckets are forgotten, so the
table stays as small as the set of active detectors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from roadside.central.errors import ResourceExhausted

FORGET_AFTER_S = 3600.0  # a bucket untouched this long is full again anyway: dropped
MAX_KEYS = 100_000  # more distinct keys than this: the idle ones go first


class TokenBuckets:
    def __init__(self, burst: float, per_s: float, what: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_s = per_s
        self.what = what  # e.g. "ingest quota of 30000 passes per minute"
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, n: float = 1.0) -> None:
        """Spend `n` tokens of `key`'s bucket, or raise ResourceExhausted (nothing spent)."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_s)
            if n > tokens:
                self._buckets[key] = (tokens, now)
                wait_s = (min(n, self.burst) - tokens) / self.per_s
                raise ResourceExhausted(
                    f"{key}: over its {self.what}; retry in {max(wait_s, 0.1):.1f} s"
                )
            self._buckets[key] = (tokens - n, now)
            if len(self._buckets) > MAX_KEYS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        idle = [k for k, (_, at) in self._buckets.items() if now - at > FORGET_AFTER_S]
        for key in idle or sorted(self._buckets, key=lambda k: self._buckets[k][1])[:1000]:
            del self._buckets[key]
