"""Sighting -> keyed hash -> address-kind policy -> PassBuilder -> DiskBuffer.

`on_sighting` is the `emit` callback sources call on the event loop's thread; it is
synchronous and cheap. The raw MAC is used once, for the hash, and not kept: the
pipeline holds only device ids. Closed passes wait in memory until `flush()` writes
them to the buffer in one transaction (off the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from roadside.agent.buffer import DiskBuffer
from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind, Pass, Sighting
from roadside.agent.passes import PassBuilder
from roadside.agent.privacy import Action, DeviceHasher, EpochKeyErased, PrivacyPolicy
from roadside.agent.wire import pass_to_row

log = logging.getLogger(__name__)

MAX_PENDING_PASSES = 100_000  # closed passes kept in RAM while the buffer cannot be written
# addresses a transmitter cannot simply invent: outside the randomized-pass budget
UNBUDGETED = frozenset({AddressKind.WIFI_GLOBAL, AddressKind.BLE_PUBLIC})
MINUTE_NS = 60 * 1_000_000_000
_DROP, _TAG = Action.DROP, Action.TAG  # (module names: an enum's attribute is a slow lookup)


@dataclass(frozen=True, slots=True)
class PipelineCounts:
    sightings: int  # accepted by the policy and hashed
    dropped_by_policy: int
    passes: int  # closed and handed to the buffer
    open_passes: int
    pending: int  # closed, not yet written to the buffer
    newest_ns: int  # newest event time seen (0 = none yet)
    buffer_dropped: int  # old passes the full buffer dropped to take ours
    lost: int  # passes dropped from RAM while the buffer could not be written
    over_budget: int  # randomized-address sightings refused a new pass (budget spent)
    erased_epoch: int  # sightings of an epoch whose key this box no longer holds
    by_source: tuple[tuple[str, int], ...]  # sightings per source


class Pipeline:
    def __init__(
        self,
        config: AgentConfig,
        hasher: DeviceHasher,
        buffer: DiskBuffer,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.hasher = hasher
        self._ids = hasher.ids  # (bound once: per sighting)
        self._actions = PrivacyPolicy.from_config(config).as_dict()
        self._builder = PassBuilder(
            config.detector_id,
            config.pass_gap_s,
            config.max_pass_s,
            config.timestamp,
            config.raw_mode,
        )
        self._add, self._is_open = self._builder.add, self._builder.is_open  # (per sighting)
        self._buffer = buffer
        self._on_written = on_written  # e.g. wake the uplink
        self._pending: list[Pass] = []
        self._write_lock = asyncio.Lock()
        self._sightings = 0
        self._dropped = 0
        self._passes = 0
        self._newest_ns = 0
        self._buffer_dropped = 0
        self._lost = 0  # passes dropped from RAM because the buffer could not be written
        self._by_source: dict[str, int] = {}
        self._budget = config.randomized_passes_per_minute
        self._budget_minute = -1
        self._budget_used = 0
        self._over_budget = 0
        self._erased = 0  # sightings of an epoch whose key is erased

    def on_sighting(self, s: Sighting) -> None:
        """Account one sighting (the sources' `emit`)."""
        mac, t_ns, rssi, radio, kind, source, _channel, device_class = s  # (one unpack)
        action = self._actions[kind]
        by_source = self._by_source
        by_source[source] = by_source.get(source, 0) + 1
        if action is _DROP:
            self._dropped += 1
            return
        try:  # the only use of the MAC
            device_id, alias = self._ids(mac, t_ns)
        except EpochKeyErased:  # heard in an epoch whose key this box has erased
            self._erased += 1
            return
        if self._budget and kind not in UNBUDGETED and not self._is_open(device_id):
            if not self._spend_budget(t_ns):
                self._over_budget += 1
                return
        self._sightings += 1
        if t_ns > self._newest_ns:
            self._newest_ns = t_ns
        tag = action is _TAG
        closed = self._add(device_id, t_ns, rssi, radio, kind, tag, False, device_class)
        if closed:
            self._pending.extend(closed)
        if alias is not None:  # just after a boundary: the same visit under the old id too
            closed = self._add(alias, t_ns, rssi, radio, kind, tag, True, device_class)
            if closed:
                self._pending.extend(closed)

    def _spend_budget(self, t_ns: int) -> bool:
        """One new randomized-address pass in t_ns's minute, if the budget has room."""
        minute = t_ns // MINUTE_NS
        if minute != self._budget_minute:
            self._budget_minute, self._budget_used = minute, 0
        if self._budget_used >= self._budget:
            if self._budget_used == self._budget:
                log.warning("over %d new passes from randomized addresses this minute: the "
                            "rest are counted, not kept (setting randomized_passes_per_minute)",
                            self._budget)
                self._budget_used += 1  # warned once this minute
            return False
        self._budget_used += 1
        return True

    def tick(self, now_ns: int) -> None:
        """Close the passes idle at `now_ns` (wall clock live, newest event time in replay)."""
        self._pending.extend(self._builder.tick(now_ns))

    def tick_event_time(self) -> None:
        if self._newest_ns:
            self.tick(self._newest_ns)

    def close_all(self) -> None:
        """Close every open pass (shutdown, end of a replay)."""
        self._pending.extend(self._builder.flush())

    async def flush(self) -> int:
        """Write the closed passes to the buffer in one transaction; return how many."""
        async with self._write_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, []
            batch, items = self._encode(batch)
            try:
                self._buffer_dropped += await asyncio.to_thread(self._buffer.append, items)
            except BaseException:
                self._pending[:0] = batch  # keep them for the next try, within a bound
                excess = len(self._pending) - MAX_PENDING_PASSES
                if excess > 0:
                    del self._pending[:excess]
                    self._lost += excess
                    log.error("buffer unwritable: dropped the %d oldest passes held in RAM",
                              excess)
                raise
            self._passes += len(batch)
        if self._on_written is not None:
            self._on_written()
        return len(batch)

    def _encode(self, batch: list[Pass]) -> tuple[list[Pass], list[tuple[int, bytes]]]:
        """The passes of `batch` that encode, and their buffer rows; one that cannot be
        encoded (a time out of the int64 range) is dropped and counted as lost, never
        taking the others with it."""
        try:  # (the whole batch at once: the common case, one comprehension)
            return batch, [(p.timestamp_ns, pass_to_row(p)) for p in batch]
        except (struct.error, OverflowError):
            pass
        kept, items = [], []
        for p in batch:
            try:
                items.append((p.timestamp_ns, pass_to_row(p)))
            except (struct.error, OverflowError) as exc:
                self._lost += 1
                log.error("a pass could not be encoded, dropped (%d lost so far): %s",
                          self._lost, exc)
                continue
            kept.append(p)
        return kept, items

    def counts(self) -> PipelineCounts:
        return PipelineCounts(
            sightings=self._sightings,
            dropped_by_policy=self._dropped,
            passes=self._passes,
            open_passes=len(self._builder),
            pending=len(self._pending),
            newest_ns=self._newest_ns,
            buffer_dropped=self._buffer_dropped,
            lost=self._lost,
            over_budget=self._over_budget,
            erased_epoch=self._erased,
            by_source=tuple(sorted(self._by_source.items())),
        )
