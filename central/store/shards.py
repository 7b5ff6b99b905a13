"""Detection shards: which etcd holds each detector's detections.

The control etcd holds everything else (registry, links, routes, windows, dirty markers,
locks, PKI, alerts, audit). With `detection_shards` configured, a detector's packed passes go
to one shard, named by a mapping in the control etcd (`/{ns}/shards/{detector}`) written once,
at its first upload, and never changed: rendezvous hashing over the configured shards picks
it, so adding a shard later moves no one. A detector whose passes are already in the control
etcd (stored before shards were configured) is mapped to the control etcd and stays there.
Without shards every detector's passes are in the control etcd and no mapping is written.

Every central and worker of one site is given the same shards (same names, same endpoints).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TypeAlias

import etcd3
import grpc

from roadside.central.errors import CentralError, InvalidArgument, StoreUnavailable
from roadside.central.store import keys

log = logging.getLogger(__name__)

EtcdClient: TypeAlias = etcd3.MultiEndpointEtcd3Client
CONTROL = "control"  # the control etcd, as a shard name
ETCD_ERRORS = (etcd3.exceptions.Etcd3Exception, grpc.RpcError)


def parse_shards(entries: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """`NAME=HOST:PORT` entries (a name repeated for each of its endpoints) -> endpoints by
    name; raises ValueError naming the setting."""
    out: dict[str, list[str]] = {}
    for entry in entries:
        name, sep, endpoint = entry.partition("=")
        name, endpoint = name.strip(), endpoint.strip()
        if not sep or not endpoint:
            raise ValueError(f"detection_shards: expected NAME=HOST:PORT, got {entry!r}")
        if not keys.DETECTOR_ID_RE.fullmatch(name) or name == CONTROL:
            raise ValueError(f"detection_shards: a shard name is [a-z0-9][a-z0-9_-]{{0,62}} "
                             f"and not {CONTROL!r}, got {name!r}")
        out.setdefault(name, []).append(endpoint)
    return {name: tuple(endpoints) for name, endpoints in out.items()}


def current_revision(client: EtcdClient, ns: str, where: str = "etcd") -> int:
    """The revision of this etcd now: reads at it see everything committed so far. (One key
    inside the namespace: the only keys the etcd user may read.)"""
    try:
        resp = client.get_response(f"/{ns}/", count_only=True)
    except ETCD_ERRORS as exc:
        raise StoreUnavailable(f"{where}: reading the revision failed: {exc!r}") from exc
    return int(resp.header.revision)


class ShardsMismatch(CentralError):
    """This process's detection_shards lack one the site uses."""


def _score(shard: str, detector_id: str) -> bytes:
    return hashlib.sha256(f"{shard}/{detector_id}".encode()).digest()


class Shards:
    """The control etcd's client and the shards' (by name); the clients stay their owner's."""

    def __init__(self, control: EtcdClient, ns: str,
                 shards: Mapping[str, EtcdClient] | None = None) -> None:
        self.control = control
        self.ns = ns
        self.clients = dict(shards or {})
        self._mapped: dict[str, str] = {}  # written mappings never change: cached for good
        self._lock = threading.Lock()

    @property
    def sharded(self) -> bool:
        return bool(self.clients)

    def names(self) -> list[str]:
        """Every etcd that may hold detections: the control etcd first."""
        return [CONTROL, *sorted(self.clients)]

    def client(self, name: str) -> EtcdClient:
        if name == CONTROL:
            return self.control
        try:
            return self.clients[name]
        except KeyError:
            raise StoreUnavailable(
                f"detections are on shard {name!r}, which is not in this process's "
                "detection_shards (give every central and worker the same shards)") from None

    def where(self, name: str) -> str:
        """How errors name this etcd."""
        return "etcd" if name == CONTROL else f"etcd shard {name}"

    def shard_of(self, detector_id: str, assign: bool = False) -> str:
        """The shard holding the detector's detections. Unmapped: with `assign` (a write)
        one is chosen and recorded; a read of an unmapped detector looks in the control etcd
        (where its passes from before shards are, if any)."""
        if not self.clients:
            return CONTROL
        with self._lock:
            known = self._mapped.get(detector_id)
        if known is not None:
            return known
        key = keys.shard_key(self.ns, detector_id)
        try:
            value, _meta = self.control.get(key)
            if value is None and assign:
                value = self._assign(key, detector_id)
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd: reading detector {detector_id}'s shard failed: "
                                   f"{exc!r}") from exc
        if value is None:
            return CONTROL
        name = bytes(value).decode()
        with self._lock:
            self._mapped[detector_id] = name
        return name

    def _assign(self, key: str, detector_id: str) -> bytes:
        """Record the detector's shard (the first writer wins; the others read its choice)."""
        prefix = keys.detector_prefix(self.ns, detector_id)
        has_old = self.control.get_prefix_response(prefix, keys_only=True, limit=1).kvs
        name: str = (CONTROL if has_old
                     else max(self.clients, key=lambda s: _score(s, detector_id)))
        tx = self.control.transactions
        ok, replies = self.control.transaction(
            compare=[tx.create(key) == 0], success=[tx.put(key, name)], failure=[tx.get(key)])
        if ok:
            log.info("detector %s: detections on %s", detector_id, self.where(name))
            return name.encode()
        return bytes(replies[0][0][0])

    def shards_of(self, detector_ids: Iterable[str]) -> list[str]:
        """The etcds holding these detectors (all of them when any is not yet mapped: it may
        be given a shard while a watch runs)."""
        found = {self.shard_of(d) for d in detector_ids}
        if self.clients and any(self._mapped.get(d) is None for d in detector_ids):
            return self.names()
        return sorted(found)

    def mapping(self) -> dict[str, str]:
        """Every recorded detector -> shard."""
        prefix = keys.shards_prefix(self.ns)
        try:
            found = self.control.get_prefix(prefix)
            return {meta.key.decode()[len(prefix):]: value.decode() for value, meta in found}
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd: reading the shard mapping failed: {exc!r}") from exc

    def set_shard(self, detector_id: str, name: str) -> None:
        """Place a detector that has no detections yet on a shard (planning); raises
        InvalidArgument when the shard is unknown or the detector already has a shard."""
        if not keys.valid_detector_id(detector_id):
            raise InvalidArgument(f"detector: expected an id of {keys.DETECTOR_ID_RE.pattern}, "
                                  f"got {detector_id!r}")
        if name != CONTROL and name not in self.clients:
            raise InvalidArgument(f"shard: {name!r} is not one of {', '.join(self.names())}")
        key = keys.shard_key(self.ns, detector_id)
        tx = self.control.transactions
        try:
            ok, _ = self.control.transaction(compare=[tx.create(key) == 0],
                                             success=[tx.put(key, name)], failure=[])
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd: recording a shard failed: {exc!r}") from exc
        if not ok:
            raise InvalidArgument(f"detector: {detector_id} already has its shard "
                             f"({self.shard_of(detector_id)}); shards do not move")

    def check_site(self) -> None:
        """Refuse a process that lacks a shard the site uses: it would put new detectors'
        passes where no one else reads them. A process with shards adds its names to the
        site's list (`/{ns}/config/shards`)."""
        key = keys.site_shards_key(self.ns)
        try:
            value, _meta = self.control.get(key)
            known = set(json.loads(value)) if value is not None else set()
            missing = known - set(self.clients)
            if missing:
                raise ShardsMismatch(
                    f"detection_shards: this site uses shard(s) {', '.join(sorted(missing))} "
                    f"that this process is not given (it has: "
                    f"{', '.join(sorted(self.clients)) or 'none'}); give every central and "
                    "worker the same detection_shards")
            if set(self.clients) - known:
                self.control.put(key, json.dumps(sorted(known | set(self.clients))))
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd: reading the site's shards failed: {exc!r}") from exc
        except ValueError as exc:
            raise ShardsMismatch(f"etcd: {key} is not a JSON list of names: {exc}") from exc

    def snapshot(self, control_revision: int | None = None) -> Snapshot:
        return Snapshot(self, control_revision)


class Snapshot:
    """One revision per etcd, read when first needed: the reads of one query see each etcd
    as it was at one moment (and a query of some detectors needs only their shards up)."""

    def __init__(self, shards: Shards, control_revision: int | None = None) -> None:
        self.shards = shards
        self._revisions: dict[str, int] = {}
        if control_revision is not None:
            self._revisions[CONTROL] = control_revision

    def revision(self, name: str) -> int:
        rev = self._revisions.get(name)
        if rev is None:
            rev = self._revisions[name] = current_revision(
                self.shards.client(name), self.shards.ns, self.shards.where(name))
        return rev

    def read_at(self, detector_id: str) -> tuple[EtcdClient, int]:
        """The client and revision to read this detector's detections at."""
        name = self.shards.shard_of(detector_id)
        return self.shards.client(name), self.revision(name)
