"""Retention leases: detections expire through shared etcd leases, one per expiry hour.

A detection at time t expires at the end of the UTC hour that holds t + retention. All
detections expiring in one hour share one lease, granted on first use and cached, so a
batch costs no lease calls at all once its hour's lease exists. An hour, not a day: etcd
deletes a lease's keys in one step that holds up every write, so a day's worth at once
(at 50 detectors ~60,000 packed keys, 0.5 s) would stall ingest at each midnight; an
hour's is a twenty-fourth of that (bench/bench_capacity.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SLOT_S = 3_600  # detections expiring within one UTC hour share a lease
MIN_TTL_S = 60  # a lease shorter than this is not worth granting


def expiry_end_s(t_ns: int, retention_s: float) -> int:
    """The unix second at which a detection made at t_ns may be deleted."""
    expires = t_ns / 1e9 + retention_s
    return (int(expires) // SLOT_S + 1) * SLOT_S


class RetentionLeases:
    """Maps expiry hours to lease ids; `grant(ttl_s) -> lease id` does the etcd call."""

    def __init__(
        self,
        grant: Callable[[int], int],
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._grant = grant
        self.retention_s = retention_s
        self._clock = clock
        self._leases: dict[int, int] = {}
        self._lock = threading.Lock()

    def lease_for(self, t_ns: int) -> int:
        """The lease id for a detection made at t_ns (granted now when new)."""
        day_end = expiry_end_s(t_ns, self.retention_s)
        with self._lock:
            lease_id = self._leases.get(day_end)
            if lease_id is not None:
                return lease_id
            now = self._clock()
            ttl = max(MIN_TTL_S, int(day_end - now))
            lease_id = self._grant(ttl)
            self._leases[day_end] = lease_id
            # forget leases of hours already over (etcd has dropped them)
            for old in [d for d in self._leases if d < now]:
                del self._leases[old]
            log.debug("granted retention lease %x for the hour ending %d (ttl %d s)",
                      lease_id, day_end, ttl)
            return lease_id

    def forget(self) -> None:
        """Drop the cache (after etcd said a lease is gone)."""
        with self._lock:
            self._leases.clear()
