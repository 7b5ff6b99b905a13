"""The Store on etcd: every read and write central makes, in the layout of central/store/keys.py.

Event range reads, paging and watches live in central/store/event_reads.py, on the same client.

Values: detections, registry, links and routes as in central/store/records.py. A status report
(latest and history) is the JSON of the dict given to put_status: for roadside.v1 agents
`json_format.MessageToDict(AgentStatus, preserving_proto_field_name=True)`; the original
API's CreateDetectorStatus stores the same shape (detector_id, reported_ns,
battery_voltage, ...). History entries are leased for retention like detections, and at
most `status_history_max` are kept per detector (the oldest go first).

etcd's own refusals are told apart: NOSPACE (its quota is full) is StoreFull; a request
over etcd's size limit is InvalidArgument (nothing is wrong with etcd: health stays as it is);
anything else is StoreUnavailable.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import etcd3
import grpc
from etcd3 import transactions
from ulid import ULID

from roadside.central.errors import InvalidArgument, StoreFull, StoreUnavailable
from roadside.central.store import keys, packed
from roadside.central.store import txn as etcd_txn
from roadside.central.store.records import (
    Detection,
    DetectorRecord,
    LinkRecord,
    RouteRecord,
    StoredPass,
)
from roadside.central.store.retention import RetentionLeases
from roadside.central.store.shards import CONTROL, Shards
from roadside.central.store.txn import Write
from roadside.central.store.ulids import NS_PER_MS, deterministic_ulid, ulid_floor
from roadside.common.output import escape

log = logging.getLogger(__name__)

MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
MAX_TXN_BYTES = 1_000_000  # well under etcd's default --max-request-bytes (1.5 MiB)
TXN_OVERHEAD_BYTES = 16  # per put: protobuf framing, lease id
PARALLEL_TXNS = 8  # transactions of one batch in flight at once
DEFAULT_NAMESPACE = "tdc"  # as the original system
STATUS_HISTORY_MAX = 1440  # status reports kept per detector (a day at one a minute)


AUDIT_FIELD_MAX = 512  # characters of one audit field; a whole page of 1000 stays < 2 MB


def _bounded(text: str) -> str:
    """`text` printable (control characters as \\xNN) and at most AUDIT_FIELD_MAX long."""
    text = escape(text)
    if len(text) <= AUDIT_FIELD_MAX:
        return text
    return f"{text[:AUDIT_FIELD_MAX]}… ({len(text) - AUDIT_FIELD_MAX} more characters cut)"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


def _too_large(exc: BaseException) -> bool:
    return "request is too large" in _describe(exc)


def _no_space(exc: BaseException) -> bool:
    text = _describe(exc)
    return "database space exceeded" in text or "NOSPACE" in text


def _lease_gone(exc: BaseException) -> bool:
    return (
        isinstance(exc, grpc.RpcError)
        and hasattr(exc, "code")
        and exc.code() == grpc.StatusCode.NOT_FOUND
    )


def split_writes(writes: Sequence[Write]) -> list[list[Write]]:
    """Group writes into transactions of at most MAX_TXN_OPS puts and MAX_TXN_BYTES."""
    groups: list[list[Write]] = []
    current: list[Write] = []
    size = 0
    for write in writes:
        cost = len(write[0]) + len(write[1]) + TXN_OVERHEAD_BYTES
        if current and (len(current) >= MAX_TXN_OPS or size + cost > MAX_TXN_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(write)
        size += cost
    if current:
        groups.append(current)
    return groups


class EtcdStore:
    """Owns nothing but the client it is given; central/api/server.py builds and closes it."""

    def __init__(
        self,
        client: etcd3.MultiEndpointEtcd3Client,
        namespace: str = DEFAULT_NAMESPACE,
        retention_days: float = 7.0,
        clock: Callable[[], float] = time.time,
        status_history_max: int = STATUS_HISTORY_MAX,
        where: str = "etcd",
    ) -> None:
        self.client = client
        self.where = where  # how errors name this etcd
        self.shards = Shards(client, namespace)  # detection shards: use_shards()
        self._detection_stores: dict[str, EtcdStore] = {}
        self.namespace = namespace
        self.retention_days = retention_days
        self.status_history_max = status_history_max
        self._clock = clock
        self._leases = RetentionLeases(self._grant, retention_days * 86_400, clock)
        # called (from the failing thread) whenever an etcd call fails: health flips at once
        self.unavailable_listeners: list[Callable[[StoreUnavailable], None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # writes ---------------------------------------------------------------

    def put_passes(self, passes: Sequence[StoredPass]) -> int:
        """Commit passes (leased for retention) and their dirty markers; returns the count.

        One packed block per detector and bucket (central/store/packed.py), in transactions
        of at most MAX_TXN_OPS operations under the request-size limit. Idempotent: the same
        passes again rewrite the same keys. Raises StoreUnavailable. Dirty markers go in
        after every block, so a worker that sees one finds its data.
        """
        return self.put_detections([p.as_detection() for p in passes])

    def put_detections(self, detections: Sequence[Detection]) -> int:
        """put_passes for detections already encoded (UploadBatch makes them from protobuf)."""
        if not detections:
            return 0
        ns = self.namespace
        groups: dict[tuple[str, int], list[Detection]] = {}
        for d in detections:
            groups.setdefault((d[0], keys.bucket_of(d[1])), []).append(d)
        by_shard: dict[str, list[tuple[str, int]]] = {}
        with self._etcd_errors("finding detection shards"):
            for group_key in sorted(groups):
                by_shard.setdefault(self.shards.shard_of(group_key[0], assign=True),
                                    []).append(group_key)

        def blocks_of(store: EtcdStore, group_keys: list[tuple[str, int]]) -> list[list[Write]]:
            out: list[Write] = []
            for detector_id, bucket in group_keys:
                group = groups[(detector_id, bucket)]
                key = packed.block_key(keys.detector_prefix(ns, detector_id), bucket,
                                       packed.block_id(group))
                # a bucket lies inside one UTC hour: one expiry for all its passes
                lease = store._leases.lease_for(group[0][1])
                out.append((key, packed.encode_block(bucket, group), lease))
            return [out]

        def markers() -> list[Write]:
            now = str(time.time_ns()).encode()
            return [(keys.dirty_key(ns, detector_id, bucket), now,
                     self._leases.lease_for(groups[(detector_id, bucket)][0][1]))
                    for detector_id, bucket in sorted(groups)]

        for name, group_keys in by_shard.items():  # the passes first, on their etcds
            store = self.detection_store(name)
            with store._etcd_errors("storing passes"):
                store._commit_leased(functools.partial(blocks_of, store, group_keys))
        with self._etcd_errors("storing passes"):  # then the markers: a worker finds them
            self._commit_leased(lambda: [markers()])
        return len(detections)

    def retention_lease(self, t_ns: int) -> int:
        """The lease of a pass at t_ns (it expires with its day's retention)."""
        return self._leases.lease_for(t_ns)

    def retention_lease_gone(self) -> None:
        """A lease from retention_lease was not found: grant new ones from now on."""
        self._leases.forget()

    def use_shards(self, clients: Mapping[str, etcd3.MultiEndpointEtcd3Client]) -> None:
        """Put detections on these detection shards (central/store/shards.py); the clients
        stay the caller's."""
        self.shards = Shards(self.client, self.namespace, clients)
        self._detection_stores = {
            name: EtcdStore(client, self.namespace, self.retention_days, self._clock,
                            where=self.shards.where(name))
            for name, client in clients.items()
        }

    def detection_store(self, name: str) -> EtcdStore:
        """The store writing to this shard's etcd (the control etcd: this one)."""
        if name == CONTROL:
            return self
        store = self._detection_stores.get(name)
        if store is None:
            self.shards.client(name)  # raises, naming the setting
            raise AssertionError(name)
        return store

    def shard_health(self) -> dict[str, bool]:
        """Each detection shard: answering without alarms (empty without shards)."""
        return {name: store.healthy() for name, store in sorted(self._detection_stores.items())}

    def register_detector(self, detector: DetectorRecord) -> DetectorRecord:
        """Store (or update) a detector; the first registration time is kept."""
        with self._etcd_errors("registering a detector"):
            old = self.get_detector(detector.id)
            registered = old.registered_ns if old and old.registered_ns else detector.registered_ns
            if not registered:
                registered = time.time_ns()
            record = DetectorRecord(
                detector.id, detector.name, detector.latitude, detector.longitude,
                detector.radios, registered,
            )
            self.client.put(keys.registry_key(self.namespace, detector.id), record.to_json())
        return record

    def add_radios(self, detector_id: str, radios: Iterable[str]) -> DetectorRecord:
        """The registry lists `radios` among the detector's, registering it (no name or
        place yet) when it is not: the registry says what a box hears, not only its config."""
        with self._etcd_errors("registering a detector's radios"):
            old = self.get_detector(detector_id)
            base = old or DetectorRecord(detector_id, registered_ns=time.time_ns())
            merged = tuple(sorted(set(base.radios) | set(radios)))
            if old is not None and merged == old.radios:
                return old
            record = dataclasses.replace(base, radios=merged)
            self.client.put(keys.registry_key(self.namespace, detector_id), record.to_json())
        log.info("detector %s %s: radios %s", detector_id,
                 "now hears" if old else "registered by its first upload", ", ".join(merged))
        return record

    def set_links(
        self, dest: str, sources: Sequence[LinkRecord], replace: bool = True
    ) -> list[LinkRecord]:
        """Replace dest's incoming links with `sources` in one transaction.

        With replace=False (the original API's CreateDetectorLink) other sources stay.
        """
        ns = self.namespace
        links = [dataclasses.replace(s, dest=dest) for s in sources]
        new_keys = {keys.link_key(ns, dest, link.src) for link in links}
        ops: list[Any] = []
        if replace:
            # etcd refuses a delete-range and a put of the same key in one transaction
            stale = {key for key, _ in self._range(keys.links_prefix(ns, dest))} - new_keys
            ops += [transactions.Delete(key) for key in sorted(stale)]
        ops += [transactions.Put(keys.link_key(ns, dest, link.src), link.to_json())
                for link in links]
        if len(ops) > MAX_TXN_OPS:
            raise InvalidArgument(f"sources: {len(ops)} link changes into {dest} in one "
                                  f"transaction, at most {MAX_TXN_OPS}")
        with self._etcd_errors("setting links"):
            self.client.transaction(compare=[], success=ops, failure=[])
        return links

    def remove_link(self, dest: str, src: str) -> bool:
        """Delete the one link src -> dest; False when there was none."""
        with self._etcd_errors("removing a link"):
            return bool(self.client.delete(keys.link_key(self.namespace, dest, src)))

    def put_status(self, detector_id: str, status: dict[str, Any], reported_ns: int) -> None:
        """Store an agent status report (protobuf JSON dict) as latest and in history."""
        ns = self.namespace
        value = json.dumps(status, separators=(",", ":"), sort_keys=True).encode()
        with self._etcd_errors("storing a status report"):
            ulid = deterministic_ulid(reported_ns, detector_id)
            history = keys.status_history_key(ns, detector_id, ulid)
            self._commit_leased(
                lambda: [[(history, value, self._leases.lease_for(reported_ns))]]
            )
            self._cap_history(detector_id)
            # latest only moves forward: an old report resent does not replace a newer one
            latest = self.statuses([detector_id])
            if latest and _reported_ns(latest[0]) > reported_ns:
                return
            self.client.put(keys.status_latest_key(ns, detector_id), value)

    def _cap_history(self, detector_id: str) -> None:
        """Delete the oldest history entries beyond status_history_max."""
        prefix = keys.status_history_prefix(self.namespace, detector_id)
        count = self.client.get_prefix_response(prefix, count_only=True).count
        excess = int(count) - self.status_history_max
        if excess <= 0:
            return
        oldest = self.client.get_prefix_response(
            prefix, keys_only=True, limit=excess, sort_order="ascend", sort_target="key"
        )
        for kv in oldest.kvs:
            self.client.delete(kv.key)

    def put_audit(self, who: str, method: str, what: str) -> None:
        """One audit entry (who, what, when), leased for retention like detections; each
        field printable and bounded (AUDIT_FIELD_MAX characters, then a marker)."""
        now_ns = int(self._clock() * 1e9)
        value = json.dumps({"at_ns": now_ns, "who": _bounded(who), "method": _bounded(method),
                            "what": _bounded(what)})
        key = keys.audit_key(self.namespace, str(ULID.from_timestamp(now_ns / 1e9)))
        with self._etcd_errors("writing the audit log"):
            self._commit_leased(lambda: [[(key, value.encode(), self._leases.lease_for(now_ns))]])

    def audit(self, since_ns: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Audit entries from since_ns on, oldest first, at most `limit`."""
        prefix = keys.audit_prefix(self.namespace)
        with self._etcd_errors("reading the audit log"):
            found = self.client.get_range(prefix + ulid_floor(since_ns), keys.prefix_end(prefix),
                                          limit=limit, sort_order="ascend", sort_target="key")
            entries = [json.loads(value) for value, _ in found]
        for entry in entries:  # entries written before the bound are cut on the way out
            for name in ("who", "method", "what"):
                entry[name] = _bounded(str(entry.get(name, "")))
        return entries

    def set_route(self, route: RouteRecord) -> RouteRecord:
        with self._etcd_errors("setting a route"):
            self.client.put(keys.route_key(self.namespace, route.name), route.to_json())
        return route

    # reads ----------------------------------------------------------------

    def get_detector(self, detector_id: str) -> DetectorRecord | None:
        with self._etcd_errors("reading a detector"):
            value, _ = self.client.get(keys.registry_key(self.namespace, detector_id))
        return None if value is None else DetectorRecord.from_json(detector_id, value)

    def list_detectors(self) -> list[DetectorRecord]:
        prefix = keys.registry_prefix(self.namespace)
        return [
            DetectorRecord.from_json(key[len(prefix):], value)
            for key, value in self._range(prefix)
        ]

    def links(self, dest: str | None = None) -> list[LinkRecord]:
        """All links, or those into `dest`."""
        base = keys.links_prefix(self.namespace)
        out = []
        for key, value in self._range(keys.links_prefix(self.namespace, dest)):
            dest_id, _, src_id = key[len(base):].partition("/")
            out.append(LinkRecord.from_json(src_id, dest_id, value))
        return out

    def statuses(self, detector_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The latest status report of each detector (all when empty)."""
        ns = self.namespace
        with self._etcd_errors("reading status"):
            if not detector_ids:
                prefix = keys.status_prefix(ns)
                found = self.client.get_prefix(prefix, keys_only=True)
                detector_ids = sorted(
                    meta.key.decode()[len(prefix):].split("/")[0]
                    for _, meta in found
                    if meta.key.endswith(b"/latest")
                )
            out = []
            for detector_id in detector_ids:
                value, _ = self.client.get(keys.status_latest_key(ns, detector_id))
                if value is not None:
                    out.append(json.loads(value))
        return out

    def status_history(
        self, detector_id: str, since_ns: int = 0, until_ns: int = 0, limit: int = 0
    ) -> list[dict[str, Any]]:
        """Reports with since_ns <= reported_ns < until_ns (0 = unbounded), oldest first.

        History keys are ULIDs of the report time, so the range is a key range.
        """
        prefix = keys.status_history_prefix(self.namespace, detector_id)
        start = prefix + ulid_floor(since_ns)
        # until's millisecond is read too: the exact bound is checked per report
        end = prefix + ulid_floor(until_ns + NS_PER_MS) if until_ns else keys.prefix_end(prefix)
        with self._etcd_errors("reading status history"):
            found = self.client.get_range(start, end)
            out = []
            for value, _ in found:
                report = json.loads(value)
                t = _reported_ns(report)
                if since_ns <= t and (not until_ns or t < until_ns):
                    out.append(report)
        out.sort(key=_reported_ns)
        return out[:limit] if limit > 0 else out

    def routes(self) -> list[RouteRecord]:
        prefix = keys.routes_prefix(self.namespace)
        return [
            RouteRecord.from_json(key[len(prefix):], value) for key, value in self._range(prefix)
        ]

    def healthy(self) -> bool:
        """etcd answers and has no NOSPACE alarm."""
        try:
            alarms = list(self.client.list_alarms())
        except (etcd3.exceptions.Etcd3Exception, grpc.RpcError, ValueError) as exc:
            log.debug("etcd health probe failed: %s", _describe(exc))
            return False
        if alarms:
            log.warning("etcd raised alarms: %s", [a.alarm_type for a in alarms])
            return False
        return True

    # helpers --------------------------------------------------------------

    @contextmanager
    def _etcd_errors(self, what: str) -> Iterator[None]:
        """Turn every etcd/gRPC failure into StoreUnavailable (raised from the cause)."""
        try:
            yield
        except StoreUnavailable:
            raise
        except (etcd3.exceptions.Etcd3Exception, grpc.RpcError) as exc:
            if _too_large(exc):
                raise InvalidArgument(f"{what}: too large for etcd's request limit") from exc
            kind = StoreFull if _no_space(exc) else StoreUnavailable
            error = kind(f"{self.where}: {what} failed: {_describe(exc)}")
            for listener in self.unavailable_listeners:
                listener(error)
            raise error from exc

    def _grant(self, ttl_s: int) -> int:
        return int(self.client.lease(ttl_s).id)

    def _commit_leased(self, build: Callable[[], list[list[Write]]]) -> None:
        """Commit the stages `build` makes; when a cached lease is gone, grant anew once."""
        try:
            self._commit(build())
        except grpc.RpcError as exc:
            if not _lease_gone(exc):
                raise
            log.info("a retention lease is gone (revoked or expired); granting new ones")
            self._leases.forget()
            self._commit(build())

    def _commit(self, stages: Sequence[Sequence[Write]]) -> None:
        """Commit stage after stage; a stage's transactions run side by side. All or raise.

        Stages keep order where it matters: dirty markers only after their detections.
        """
        for stage in stages:
            requests = [etcd_txn.txn_request(group) for group in split_writes(stage)]
            etcd_txn.commit(self.client, requests, self._pool() if PARALLEL_TXNS > 1 else None)

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._executor is None:
                # the calling thread sends one transaction itself
                self._executor = ThreadPoolExecutor(
                    max_workers=PARALLEL_TXNS - 1, thread_name_prefix="etcd-txn"
                )
            return self._executor

    def close(self) -> None:
        """Stop the transaction threads (the clients stay their owners'); safe twice."""
        for store in self._detection_stores.values():
            store.close()
        with self._pool_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _range(self, prefix: str) -> list[tuple[str, bytes]]:
        with self._etcd_errors("reading " + prefix):
            return [(meta.key.decode(), value) for value, meta in self.client.get_prefix(prefix)]


def _reported_ns(report: dict[str, Any]) -> int:
    try:
        return int(report.get("reported_ns", 0))
    except (TypeError, ValueError):
        return 0
