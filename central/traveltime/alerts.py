"""Alerts: Warn and Bad per link and route (travel time against normal, or a fixed threshold)
and per detector (silent, backlog, clock, battery), evaluated by one worker at a time.

A target is at a level when its newest windows over `for_s` (each with at least
`min_samples` devices) are all at least that high: Warn at `warn_ratio` x the normal (the
profile's, else free flow) or above a fixed `warn_s`, Bad likewise; one window below clears
it. A detector is Bad when silent (no status report for `allowed_silence_s`), Warn on a
backlog older than `backlog_s`, an unsynchronised clock or a battery under `battery_v`.

The state of every subject is in etcd (keys.alert_key); a change writes the new state and,
in the same transaction, one outbox entry per webhook (keys.alert_outbox_key). Delivery
POSTs the entry's JSON (its `id` lets a receiver drop a repeat) and deletes it once the
receiver answered 2xx; until then every evaluation retries it. So a change is delivered once
per webhook, also when the evaluating worker is replaced.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ulid import ULID

from roadside.central.errors import StoreUnavailable
from roadside.central.store import keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.traveltime import profiles, store
from roadside.central.traveltime.model import Target
from roadside.central.traveltime.reference import FreeFlowCache

log = logging.getLogger(__name__)

LEVELS = ("ok", "warn", "bad")
HISTORY_DAYS = 30  # alert changes are kept this long
NS_PER_S = 1_000_000_000
DELIVER_TIMEOUT_S = 5.0
DELIVER_MAX = 100  # outbox entries tried per evaluation


@dataclass(frozen=True, slots=True)
class AlertRules:
    warn_ratio: float = 1.25
    bad_ratio: float = 1.6
    min_samples: int = 5
    for_s: float = 600.0
    allowed_silence_s: float = 900.0
    backlog_s: float = 1800.0
    battery_v: float = 11.5
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str
    level: str
    reason: str
    value: float | None = None


def target_level(target: Target, windows: list[Any], reference_s: float | None,
                 threshold: dict[str, float], rules: AlertRules, window_s: int) -> Finding:
    """The level of a target from its windows (oldest first) against its references."""
    needed = max(1, -(-int(rules.for_s) // window_s))
    usable = [w for w in windows if w.figures is not None and not w.suppressed
              and w.count >= rules.min_samples]
    recent = usable[-needed:]
    if len(recent) < needed or recent[-1].window_end_ns < windows[-1].window_end_ns:
        return Finding(target.path, "ok", "not enough recent windows")

    def level_of(median: float) -> str:
        for level, ratio, fixed in (("bad", rules.bad_ratio, threshold.get("bad_s")),
                                    ("warn", rules.warn_ratio, threshold.get("warn_s"))):
            if (reference_s and median >= ratio * reference_s) or (fixed and median >= fixed):
                return level
        return "ok"

    levels = [level_of(w.figures.median_s) for w in recent]
    level = min(levels, key=LEVELS.index)
    median = recent[-1].figures.median_s
    if level == "ok":
        return Finding(target.path, "ok", "travel time normal", median)
    against = f"{reference_s:.0f} s normal" if reference_s else "its threshold"
    return Finding(target.path, level, f"travel time {median:.0f} s against {against} for "
                   f"{needed * window_s // 60} min", median)


def detector_level(detector_id: str, status: dict[str, Any] | None, now_ns: int,
                   rules: AlertRules) -> Finding:
    subject = f"detector/{detector_id}"
    if status is None:
        return Finding(subject, "ok", "never reported")
    age_s = (now_ns - int(status.get("reported_ns", 0))) / NS_PER_S
    if age_s > rules.allowed_silence_s:
        return Finding(subject, "bad", f"silent for {age_s / 60:.0f} min", age_s)
    backlog = float(status.get("oldest_unsent_age_s", 0))
    if backlog > rules.backlog_s:
        return Finding(subject, "warn", f"oldest unsent pass {backlog / 60:.0f} min old", backlog)
    if status.get("clock_sync") == "CLOCK_SYNC_UNSYNCED":
        return Finding(subject, "warn", "clock not synchronised")
    battery = float(status.get("battery_voltage", 0))
    if 0 < battery < rules.battery_v:
        return Finding(subject, "warn", f"battery {battery:.1f} V", battery)
    return Finding(subject, "ok", "reporting")


class AlertEvaluator:
    """One evaluation after another (by the worker holding keys.alerts_lock)."""

    def __init__(self, client: store.EtcdClient, ns: str, rules: AlertRules, window_s: int,
                 ) -> None:
        self.client = client
        self.ns = ns
        self.rules = rules
        self.window_s = window_s
        self.central = EtcdStore(client, ns)
        self.free_flow = FreeFlowCache(client, ns)

    def evaluate(self, targets: list[Target], now_ns: int | None = None) -> list[dict[str, Any]]:
        """Check every subject; record and queue the changes; deliver the outbox. Returns the
        changes made by this evaluation."""
        now_ns = now_ns or time.time_ns()
        findings = [self._target(t, now_ns) for t in targets]
        statuses = {s.get("detector_id"): s for s in self.central.statuses()}
        findings += [detector_level(d.id, statuses.get(d.id), now_ns, self.rules)
                     for d in self.central.list_detectors()]
        changes = [c for f in findings if (c := self._record(f, now_ns)) is not None]
        self.deliver()
        return changes

    def _target(self, target: Target, now_ns: int) -> Finding:
        span_s = int(self.rules.for_s) + 3 * self.window_s
        since_s = now_ns // NS_PER_S - span_s
        windows = [w for w, _r in store.read_windows(self.client, self.ns, target, since_s)]
        if not windows:
            return Finding(target.path, "ok", "no windows")
        profile = profiles.read(self.client, self.ns, target.path)
        reference = profile.normal_at(windows[-1].window_start_ns) if profile else None
        if reference is None:
            reference = profile.free_flow_s if profile else None
        if reference is None:
            reference = self.free_flow.get(target, now_ns)
        value, _meta = self.client.get(keys.alert_threshold_key(self.ns, target.path))
        threshold = json.loads(value) if value else {}
        return target_level(target, windows, reference, threshold, self.rules, self.window_s)

    def _record(self, finding: Finding, now_ns: int) -> dict[str, Any] | None:
        key = keys.alert_key(self.ns, finding.subject)
        value, meta = self.client.get(key)
        old = json.loads(value) if value else {"level": "ok"}
        if old["level"] == finding.level:
            return None
        change_id = str(ULID.from_timestamp(now_ns / 1e9))  # history keys sort by time
        change = {"id": change_id, "subject": finding.subject,
                  "level": finding.level, "previous": old["level"], "reason": finding.reason,
                  "value": finding.value, "at_ns": now_ns}
        state = {**change, "since_ns": now_ns}
        tx = self.client.transactions
        compare = ([tx.mod(key) == meta.mod_revision] if meta is not None
                   else [tx.create(key) == 0])
        try:
            kept = self.client.lease(HISTORY_DAYS * 86_400)
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd lease failed: {exc}") from exc
        ops = [tx.put(key, json.dumps(state)),
               tx.put(keys.alert_history_key(self.ns, change_id), json.dumps(change),
                      lease=kept)]
        ops += [tx.put(keys.alert_outbox_key(self.ns, f"{change['id']}-{i}"),
                       json.dumps({"url": url, "change": change}))
                for i, url in enumerate(self.rules.webhooks)]
        try:
            ok, _ = self.client.transaction(compare=compare, success=ops, failure=[])
        except store.ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd write failed: {exc}") from exc
        if not ok:
            return None  # changed meanwhile: the next evaluation sees it
        log.info("alert %s: %s -> %s (%s)", finding.subject, old["level"], finding.level,
                 finding.reason)
        return change

    def deliver(self) -> int:
        """POST queued changes in order; a delivered one leaves the outbox. How many."""
        prefix = keys.alert_outbox_prefix(self.ns)
        done = 0
        for key, value, _rev in list(store.range_pages(self.client, prefix,
                                                       keys.prefix_end(prefix)))[:DELIVER_MAX]:
            entry = json.loads(value)
            body = json.dumps(entry["change"]).encode()
            request = urllib.request.Request(entry["url"], body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=DELIVER_TIMEOUT_S) as reply:
                    delivered = 200 <= reply.status < 300
            except (urllib.error.URLError, OSError) as exc:
                log.warning("alert webhook %s: %s (retried)", entry["url"], exc)
                delivered = False
            if delivered:
                self.client.delete(key)
                done += 1
        return done


def history(client: store.EtcdClient, ns: str, since_ns: int) -> list[dict[str, Any]]:
    """The alert changes since `since_ns` (kept HISTORY_DAYS), the newest first."""
    prefix = keys.alert_history_prefix(ns)
    start = keys.alert_history_key(ns, str(ULID.from_timestamp(since_ns / 1e9)))
    found = [json.loads(v) for _k, v, _r in store.range_pages(client, start,
                                                             keys.prefix_end(prefix))]
    return [c for c in reversed(found) if c.get("at_ns", 0) >= since_ns]


def states(client: store.EtcdClient, ns: str) -> list[dict[str, Any]]:
    """Every subject's current alert state (the ones that ever changed), the worst first."""
    prefix = keys.alerts_prefix(ns)
    found = [json.loads(v) for _k, v, _r in store.range_pages(client, prefix,
                                                             keys.prefix_end(prefix))]
    worst = {level: -n for n, level in enumerate(LEVELS)}
    return sorted(found, key=lambda a: (worst.get(a.get("level", "ok"), 1), a["subject"]))
