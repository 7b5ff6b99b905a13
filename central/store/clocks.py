"""Each detector's clock offset, estimated from its uploads, kept in the control etcd.

Every UploadBatch carries the box's clock at sending (`sent_ns`); the sample is that minus
central's clock at arrival: the box's offset less the network delay (milliseconds on a
working uplink; a sample more than MAX_OFFSET_S off is a broken clock and is not taken).
The estimate is the median of the last SAMPLES samples, so a few slow batches do not move
it. Each central writes its estimate to `/{ns}/clocks/{det}` with each of the first
MIN_SAMPLES samples, then when it has moved by more than MOVE_S or every PERSIST_S: the
workers and the other replicas read it from there.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import etcd3
import grpc

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys

log = logging.getLogger(__name__)

SAMPLES = 32  # batches per estimate
MIN_SAMPLES = 5  # an estimate resting on fewer is not used to correct anything
MAX_DETECTORS = 100_000  # samples kept for at most this many detectors (then started over)
MAX_OFFSET_S = 86_400.0  # a sample further off is a broken clock, not an offset: ignored
CLOCK_OFFSET_MAX_S = 2.0  # default: a box further off is flagged (and corrected or left out)
MOVE_S = 0.25  # the stored estimate is rewritten when it moves this much
PERSIST_S = 60.0  # ... and at least this often while batches arrive
NS = 1_000_000_000
ETCD_ERRORS = (etcd3.exceptions.Etcd3Exception, grpc.RpcError)


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    offset_s: float  # box clock minus central's, seconds
    samples: int
    updated_ns: int

    @property
    def usable(self) -> bool:
        return self.samples >= MIN_SAMPLES

    def to_json(self) -> bytes:
        return json.dumps({"offset_s": round(self.offset_s, 4), "samples": self.samples,
                           "updated_ns": self.updated_ns}).encode()

    @classmethod
    def from_json(cls, value: bytes) -> ClockEstimate:
        data = json.loads(value)
        return cls(float(data["offset_s"]), int(data["samples"]), int(data["updated_ns"]))


class ClockEstimator:
    """Central's in-memory samples per detector and the writes of their estimates."""

    def __init__(self, client: Any, ns: str, clock: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.ns = ns
        self._clock = clock
        self._samples: dict[str, deque[float]] = {}
        self._written: dict[str, tuple[float, int]] = {}  # detector -> (offset, when)
        self._lock = threading.Lock()

    def sample(self, detector_id: str, sent_ns: int, arrival_ns: int) -> None:
        """One batch's (sent, arrival); writes the estimate when due. Never raises: an
        etcd failure here only delays the estimate."""
        if sent_ns <= 0:
            return
        offset_s = (sent_ns - arrival_ns) / NS
        if abs(offset_s) > MAX_OFFSET_S:
            return
        with self._lock:
            if detector_id not in self._samples and len(self._samples) >= MAX_DETECTORS:
                self._samples.clear()
            window = self._samples.setdefault(detector_id, deque(maxlen=SAMPLES))
            window.append(offset_s)
            estimate = statistics.median(window)
            count = len(window)
            last = self._written.get(detector_id)
            due = (last is None or count <= MIN_SAMPLES or abs(estimate - last[0]) > MOVE_S
                   or arrival_ns - last[1] > PERSIST_S * NS)
            if due:
                self._written[detector_id] = (estimate, arrival_ns)
        if due:
            try:
                self.client.put(keys.clock_key(self.ns, detector_id),
                                ClockEstimate(estimate, count, arrival_ns).to_json())
            except ETCD_ERRORS as exc:
                log.debug("storing %s's clock estimate failed: %r", detector_id, exc)
                with self._lock:
                    self._written.pop(detector_id, None)


def read_estimates(client: Any, ns: str,
                   detector_ids: Iterable[str] | None = None) -> dict[str, ClockEstimate]:
    """The stored estimates of these detectors (all when None)."""
    try:
        if detector_ids is None:
            prefix = keys.clocks_prefix(ns)
            found = [(meta.key.decode()[len(prefix):], value)
                     for value, meta in client.get_prefix(prefix)]
        else:
            found = [(d, client.get(keys.clock_key(ns, d))[0]) for d in set(detector_ids)]
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"etcd: reading clock estimates failed: {exc!r}") from exc
    out = {}
    for detector_id, value in found:
        if value is not None:
            try:
                out[detector_id] = ClockEstimate.from_json(value)
            except (ValueError, KeyError, TypeError):
                log.warning("skipping an unreadable clock estimate of %s", detector_id)
    return out
