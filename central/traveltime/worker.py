"""The travel-time worker: computes windows of the destinations whose locks it holds.

Three things wake it: a window closing (its end + grace has passed), a pending marker
(late data for a published window) and a change in the locks it holds. Each window is
written under its destination lock (a transaction comparing the lock key), so a worker
that lost its lock cannot write, and a window already stored from a recent enough view
of etcd is never computed again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import etcd3.events

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.store.retention import RetentionLeases
from roadside.central.store.shards import Shards
from roadside.central.traveltime import alerts, backfill, dirty, engine, profiles, stats, store
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.central.traveltime.locks import DestLocks
from roadside.central.traveltime.model import Target

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after etcd errors
STOP_TIMEOUT_S = 10.0  # for the worker's tasks to finish on stop
NS_PER_S = keys.NS_PER_S
FORGET_AFTER_S = 2 * 86_400  # windows older than this are no longer remembered in memory


def default_worker_id() -> str:
    host = "".join(c if c.isalnum() else "-" for c in socket.gethostname().lower())
    return f"{host[:40] or 'host'}-{os.getpid()}"


def alert_rules(c: TravelTimeConfig) -> alerts.AlertRules:
    return alerts.AlertRules(c.alert_warn_ratio, c.alert_bad_ratio, c.alert_min_samples,
                             c.alert_for_s, c.alert_allowed_silence_s, c.alert_backlog_s,
                             c.alert_battery_v, tuple(c.alert_webhooks))


def rules_of(config: TravelTimeConfig) -> stats.Rules:
    return stats.Rules(config.k, config.mad_threshold, config.max_speed_kmh / 3.6)


class TravelTimeWorker:
    """start()/stop() (both safe twice); `published` counts windows written."""

    def __init__(
        self,
        client: store.EtcdClient,
        config: TravelTimeConfig,
        clock: Callable[[], int] = time.time_ns,
        shards: Shards | None = None,
    ) -> None:
        self.client = client
        self.shards = shards or Shards(client, config.namespace)  # the etcds of passes
        self.config = config
        self.ns = config.namespace
        self.worker_id = config.worker_id or default_worker_id()
        self.rules = rules_of(config)
        self.clock = clock
        self.locks = DestLocks(client, self.ns, self.worker_id, config.lock_ttl_s)
        self.leases = (
            RetentionLeases(self._grant, config.retention_days * 86_400)
            if config.retention_days > 0 else None
        )
        self.published = 0
        self.recomputed = 0  # windows written again (late data)
        self.newest_end_ns = 0  # the end of the newest window written
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # compute loop: something to do
        self._locks_changed = asyncio.Event()  # membership loop: a lock or worker went
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch_ids: list[int] = []
        self._watch_failed = True  # (re)read markers and watch them on the next turn
        self._dirty: dict[bytes, int] = {}  # dirty marker -> mod revision
        self._pending: dict[bytes, tuple[int, int]] = {}  # -> (mod rev, dirty marker's rev)
        self._stored: dict[tuple[str, int], int] = {}  # (target prefix, ws) -> source rev
        self._known: set[str] = set()  # target prefixes whose stored windows we have read
        self._taken: dict[str, int] = {}  # dest -> the lock revision we last worked under
        self._targets: list[Target] = []
        self._backfills: dict[str, backfill.Backfill] = {}  # target path -> what is left
        self._profiled: dict[str, float] = {}  # target path -> when its profile was made
        self._alerted = 0.0  # monotonic time of the last alert evaluation
        self._lived = -1e18  # monotonic time of the last live figures
        self.live_published = 0  # live figures written
        self.alerts = alerts.AlertEvaluator(client, self.ns, alert_rules(config),
                                            config.window_s)

    # lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start computing; ShardsMismatch when the site uses a shard this worker lacks."""
        if self._tasks:
            return
        await asyncio.to_thread(self.shards.check_site)
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._membership(), name=f"traveltime-membership-{self.worker_id}"),
            asyncio.create_task(self._compute_loop(), name=f"traveltime-compute-{self.worker_id}"),
        ]
        log.info("travel-time worker %s started on namespace %s", self.worker_id, self.ns)

    async def stop(self) -> None:
        if not self._tasks:
            return
        self._stop.set()
        self._wake.set()
        self._locks_changed.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        await asyncio.to_thread(self._cancel_watches)
        await asyncio.to_thread(self.locks.close)
        log.info("travel-time worker %s stopped", self.worker_id)

    async def __aenter__(self) -> TravelTimeWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # membership: lease, presence, a fair share of destination locks -------

    async def _membership(self) -> None:
        tick = self.config.lock_ttl_s / 3
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.locks.keepalive)
                targets = await asyncio.to_thread(
                    store.all_targets, self.client, self.ns, self.config.route_max_seconds
                )
                dests = {t.dest for t in targets}
                if await asyncio.to_thread(self.locks.balance, dests):
                    self._wake.set()
            except StoreUnavailable as exc:
                log.warning("worker %s: %s", self.worker_id, exc)
            except Exception:  # keep the worker alive; the next tick retries
                log.exception("worker %s: membership failed", self.worker_id)
            self._locks_changed.clear()
            await self._wait(self._locks_changed, tick)

    # computing ------------------------------------------------------------

    async def _compute_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._watch_failed:
                    await asyncio.to_thread(self._resync)
                batch, self._dirty = self._dirty, {}
                try:
                    next_due_ns = await asyncio.to_thread(self._turn, batch)
                except Exception:
                    self._dirty = {**batch, **self._dirty}
                    raise
            except StoreUnavailable as exc:
                log.warning("worker %s: %s", self.worker_id, exc)
                self._watch_failed = True
                await self._wait(self._stop, RETRY_S)
                continue
            except Exception:  # keep the worker alive; retry the turn
                log.exception("worker %s: computing failed", self.worker_id)
                await self._wait(self._stop, RETRY_S)
                continue
            await self._wait(self._wake, max(next_due_ns - self.clock(), 0) / NS_PER_S)

    def _turn(self, dirty_batch: dict[bytes, int]) -> int:
        """One pass over everything to do (blocking). Returns when the next window is due."""
        now = self.clock()
        self._targets = store.all_targets(self.client, self.ns, self.config.route_max_seconds)
        for key, rev in list(dirty_batch.items()):
            dirty.fan_out(self.client, self.ns, self._targets, key, rev)
            del dirty_batch[key]
        held = dict(self.locks.held)
        self._forget_if_retaken(held)
        w = self.config.window_s
        latest_due = self._latest_due_s(now)
        oldest = (now // NS_PER_S - self.config.backfill_s) // w * w
        for dest, lock_rev in held.items():
            mine = [t for t in self._targets if t.dest == dest]
            jobs: dict[Target, dict[int, int]] = {}  # target -> window start -> min source rev
            for target in mine:
                self._learn_stored(target, oldest, latest_due + w)
                for ws in range(oldest, latest_due + w, w):
                    if self._stored.get((target.windows_prefix(self.ns), ws), -1) < 0:
                        jobs.setdefault(target, {})[ws] = 0
            cleared = self._late_jobs(dest, mine, latest_due, jobs)
            if not self._run_jobs(dest, lock_rev, jobs):
                continue
            for key, rev in cleared:
                dirty.clear(self.client, key, rev)
                if self._pending.get(key, (rev, 0))[0] == rev:
                    self._pending.pop(key, None)
        self._forget_old(now)
        self._publish_live(held, now)
        self._profile(held, now)
        self._evaluate_alerts(now)
        if self._backfill_chunk(held, oldest, now):
            return now  # more older windows to compute: the next turn at once
        due = (latest_due + 2 * w) * NS_PER_S + int(self.config.grace_s * NS_PER_S)
        if self.config.alerts:
            due = min(due, now + int(self.config.alert_every_s * NS_PER_S))
        if self.config.live_window_s:
            due = min(due, now + int(self.config.live_every_s * NS_PER_S))
        return due

    def _publish_live(self, held: dict[str, int], now_ns: int) -> None:
        """Every live_every_s: each held target's figure over the last live_window_s,
        provisional, under its destination lock, on a lease of three rounds."""
        c = self.config
        if not c.live_window_s or not held or time.monotonic() - self._lived < c.live_every_s:
            return
        self._lived = time.monotonic()
        start = now_ns // NS_PER_S - c.live_window_s
        try:
            lease = self.client.lease(max(10, int(3 * c.live_every_s)))
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd lease failed: {exc}") from exc
        for dest, lock_rev in held.items():
            items = [(target, dataclasses.replace(summary, provisional=True))
                     for target in self._targets if target.dest == dest
                     for summary in engine.compute_windows(
                         self.client, self.ns, target, [start], c.live_window_s, self.rules,
                         worker=self.worker_id, shards=self.shards,
                         clocks=self._clock_policy())]
            if items and store.write_live(self.client, self.ns, items,
                                          keys.worker_lock_name(self.ns, dest), lock_rev,
                                          lease.id):
                self.live_published += len(items)

    def _evaluate_alerts(self, now_ns: int) -> None:
        """Every alert_every_s, by the one worker holding the alerts lock (on its lease)."""
        if not self.config.alerts or time.monotonic() - self._alerted < self.config.alert_every_s:
            return
        self._alerted = time.monotonic()
        if self.locks.lease_id and self._hold_alerts_lock():
            self.alerts.evaluate(self._targets, now_ns)

    def _hold_alerts_lock(self) -> bool:
        key = keys.alerts_lock(self.ns)
        tx = self.client.transactions
        try:
            self.client.transaction(
                compare=[tx.create(key) == 0],
                success=[tx.put(key, self.worker_id, lease=self.locks.lease_id)], failure=[])
            value, _meta = self.client.get(key)
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd lock failed: {exc}") from exc
        return bool(value == self.worker_id.encode())

    def _profile(self, held: dict[str, int], now_ns: int) -> None:
        """Normal profiles of the targets we hold, at most every profile_every_s each."""
        c = self.config
        mono = time.monotonic()
        for target in self._targets:
            if target.dest not in held:
                continue
            last = self._profiled.get(target.path)
            if last is not None and mono - last < c.profile_every_s:
                continue
            profile = profiles.compute(self.client, self.ns, target, c.profile_weeks,
                                       c.profile_utc_offset_hours, now_ns)
            profiles.write(self.client, self.ns, target, profile)
            self._profiled[target.path] = mono
            known = sum(1 for v in profile.bins_s if v is not None)
            log.info("%s: normal profile with %d of %d bins", target.label(), known,
                     profiles.BINS)

    def _forget_if_retaken(self, held: dict[str, int]) -> None:
        """A destination taken (again): what we remember of its stored windows may be stale,
        another worker may have written them meanwhile."""
        for dest, rev in held.items():
            if self._taken.get(dest) == rev:
                continue
            self._taken[dest] = rev
            prefixes = {t.windows_prefix(self.ns) for t in self._targets if t.dest == dest}
            self._known -= prefixes
            self._stored = {k: v for k, v in self._stored.items() if k[0] not in prefixes}

    def _backfill_chunk(self, held: dict[str, int], until_s: int, now: int) -> bool:
        """Plan new targets' older windows, or all of a target whose rules changed;
        compute one chunk of one. True if more is left."""
        current = {t.path: t for t in self._targets if t.dest in held}
        for path in [p for p, job in self._backfills.items()
                     if current.get(p) != job.target or held[job.target.dest] != job.lock_rev]:
            del self._backfills[path]  # removed, changed or taken again: planned afresh
        for target in current.values():
            if target.path not in self._backfills:
                self._backfills[target.path] = self._plan(target, held, until_s, now)
        for path, job in self._backfills.items():
            if not job.left:
                continue
            prefix = job.target.windows_prefix(self.ns)
            chunk = job.take()  # less what late data has had computed meanwhile
            todo = chunk if job.recompute else [
                ws for ws in chunk if self._stored.get((prefix, ws), -1) < 0]
            if not self._run_jobs(job.target.dest, held[job.target.dest],
                                  {current[path]: dict.fromkeys(todo, 0)}):
                job.left = chunk + job.left
                return False
            backfill.write_progress(self.client, self.ns, job, self.worker_id)
            if not job.left:
                if job.recompute:
                    backfill.record_rules(self.client, self.ns, job.target)
                log.info("%s: %s windows done (%d)", job.target.label(),
                         "recomputed" if job.recompute else "older", job.total)
            return any(j.left for j in self._backfills.values())
        return False

    def _plan(self, target: Target, held: dict[str, int], until_s: int,
              now: int) -> backfill.Backfill:
        """A target's backfill: its missing older windows, or every retained one when its
        rules are not those its windows were computed with."""
        recorded = backfill.stored_rules(self.client, self.ns, target)
        recompute = recorded is not None and recorded != target.rules_digest
        if recorded is None:
            backfill.record_rules(self.client, self.ns, target)
        if recompute:  # the regular schedule's windows too: it computes only missing ones
            until_s = self._latest_due_s(now) + self.config.window_s
        plan = backfill.plan(self.client, self.ns, target, self.config.window_s, until_s,
                             int(self.config.retention_days * 86_400), now, held[target.dest],
                             self.shards, recompute)
        if recompute and not plan.total:
            backfill.record_rules(self.client, self.ns, target)
        if plan.total:
            log.info("%s: %s %d window(s) in the background", target.label(),
                     "rules changed: recomputing" if recompute else "computing older",
                     plan.total)
            backfill.write_progress(self.client, self.ns, plan, self.worker_id)
        return plan

    def _latest_due_s(self, now_ns: int) -> int:
        """Start of the newest window whose end + grace has passed."""
        w = self.config.window_s
        closed = (now_ns - int(self.config.grace_s * NS_PER_S)) // NS_PER_S
        return closed // w * w - w

    def _late_jobs(
        self, dest: str, mine: list[Target], latest_due: int, jobs: dict[Target, dict[int, int]]
    ) -> list[tuple[bytes, int]]:
        """Add windows touched by pending markers of `dest`; the markers to clear after."""
        cleared = []
        for key, (rev, dirty_rev) in list(self._pending.items()):
            try:
                marker_dest, detector, bucket = dirty.parse_pending_key(self.ns, key)
            except ValueError:
                continue
            if marker_dest != dest:
                continue
            for target in mine:
                for ws in dirty.affected_windows(target, detector, bucket, self.config.window_s):
                    if ws > latest_due:
                        continue  # not closed yet: its scheduled computation sees the data
                    if self._stored_revision(target, ws) < dirty_rev:
                        jobs.setdefault(target, {})[ws] = dirty_rev
            cleared.append((key, rev))
        return cleared

    def _run_jobs(self, dest: str, lock_rev: int, jobs: dict[Target, dict[int, int]]) -> bool:
        lock_key = keys.worker_lock_name(self.ns, dest)
        for target, windows in jobs.items():
            summaries = engine.compute_windows(
                self.client, self.ns, target, sorted(windows), self.config.window_s,
                self.rules, worker=self.worker_id, shards=self.shards,
                clocks=self._clock_policy(),
            )
            items = [(target, s) for s in summaries]
            if not store.write_windows(self.client, self.ns, items, lock_key, lock_rev,
                                       self.leases):
                log.warning("worker %s lost destination %s mid-write", self.worker_id, dest)
                self.locks.held = {d: r for d, r in self.locks.held.items() if d != dest}
                return False
            prefix = target.windows_prefix(self.ns)
            for s in summaries:
                key = (prefix, s.window_start_ns // NS_PER_S)
                if self._stored.get(key, -1) >= 0:
                    self.recomputed += 1
                self._stored[key] = s.source_revision
                self.newest_end_ns = max(self.newest_end_ns, s.window_end_ns)
            self.published += len(summaries)
            log.info("published %d window(s) of %s", len(summaries), target.label())
        return True

    def _clock_policy(self) -> engine.ClockPolicy:
        return engine.ClockPolicy(self.config.clock_policy, self.config.clock_offset_max_s)

    def _grant(self, ttl_s: int) -> int:
        return int(self.client.lease(ttl_s).id)

    def _stored_revision(self, target: Target, ws: int) -> int:
        """The source revision of a stored window (-1: none), remembered or read."""
        key = (target.windows_prefix(self.ns), ws)
        if key not in self._stored:
            found = store.read_windows(self.client, self.ns, target, ws, ws + 1)
            self._stored[key] = found[0][0].source_revision if found else -1
        return self._stored[key]

    def _forget_old(self, now_ns: int) -> None:
        """Drop what we remember of windows long past (they are read again if needed)."""
        horizon = now_ns // NS_PER_S - max(self.config.backfill_s, FORGET_AFTER_S)
        for key in [k for k in self._stored if k[1] < horizon]:
            del self._stored[key]

    def _learn_stored(self, target: Target, since_s: int, until_s: int) -> None:
        """Read which windows of the target are stored already (once per lock taken)."""
        prefix = target.windows_prefix(self.ns)
        if prefix in self._known:
            return
        for summary, _rev in store.read_windows(self.client, self.ns, target, since_s, until_s):
            ws = summary.window_start_ns // NS_PER_S
            self._stored[(prefix, ws)] = summary.source_revision
        self._known.add(prefix)

    # markers and watches -----------------------------------------------------

    def _resync(self) -> None:
        """Read the markers there are, then watch for new ones from that revision."""
        self._cancel_watches()
        revision = store.current_revision(self.client, self.ns)
        for key, _v, rev in range_at(self.client, keys.dirty_prefix(self.ns), revision):
            self._dirty[key] = rev
        for key, value, rev in range_at(self.client, keys.pending_prefix(self.ns), revision):
            self._pending[key] = (rev, _int(value))
        try:
            for prefix, handler in (
                (keys.dirty_prefix(self.ns), self._on_dirty),
                (keys.pending_prefix(self.ns), self._on_pending),
                (keys.worker_locks_prefix(self.ns), self._on_locks),
            ):
                self._watch_ids.append(
                    self.client.add_watch_prefix_callback(
                        prefix, self._threadsafe(handler), start_revision=revision + 1
                    )
                )
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd watch failed: {exc}") from exc
        self._watch_failed = False

    def _cancel_watches(self) -> None:
        ids, self._watch_ids = self._watch_ids, []
        for watch_id in ids:
            try:
                self.client.cancel_watch(watch_id)
            except store.ETCD_ERRORS as exc:
                log.debug("cancel watch %s: %s", watch_id, exc)

    def _threadsafe(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        loop = self._loop
        assert loop is not None

        def callback(response: Any) -> None:  # runs on etcd3's watch thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._dispatch, handler, response)

        return callback

    def _dispatch(self, handler: Callable[[Any], None], response: Any) -> None:
        if isinstance(response, Exception):
            log.warning("worker %s: watch ended (%s); watching again", self.worker_id,
                        _describe(response))
            self._watch_failed = True
            self._wake.set()
            return
        handler(response)

    def _on_dirty(self, response: Any) -> None:
        for event in response.events:
            if _is_put(event):
                self._dirty[event.key] = event.mod_revision
        self._wake.set()

    def _on_pending(self, response: Any) -> None:
        for event in response.events:
            if _is_put(event):
                self._pending[event.key] = (event.mod_revision, _int(event.value))
            else:
                self._pending.pop(event.key, None)
        self._wake.set()

    def _on_locks(self, response: Any) -> None:
        if any(not _is_put(e) for e in response.events):
            self._locks_changed.set()

    async def _wait(self, event: asyncio.Event, timeout_s: float) -> None:
        if self._stop.is_set():
            return
        try:
            await asyncio.wait_for(event.wait(), timeout=timeout_s)
        except TimeoutError:
            pass


def _describe(exc: Exception) -> str:
    """One line for an etcd or gRPC error."""
    code = getattr(exc, "code", None)
    if callable(code):
        return f"{code().name}: {exc.details() if hasattr(exc, 'details') else ''}".strip()
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _is_put(event: Any) -> bool:
    return isinstance(event, etcd3.events.PutEvent)


def _int(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def range_at(
    client: store.EtcdClient, prefix: str, revision: int
) -> list[tuple[bytes, bytes, int]]:
    return list(store.range_pages(client, prefix, keys.prefix_end(prefix), revision=revision))
