"""The site PKI's shared state, in the control etcd, so that every central replica sees it.

    /{ns}/pki/certs/{serial hex}     {"kind","name","role","issued_ns","not_after_ns","revoked_ns"}
    /{ns}/pki/revoked/{serial hex}   the serials no replica may accept (watched: seconds)
    /{ns}/pki/tokens/{sha256 hex}    {"detector_id","expires_ns"}: one-time enrollment
                                     tokens, only their hash, leased to expire

A token is taken with one transaction (compare it exists, delete it): of two replicas
offered the same token at once, one wins.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import etcd3
import grpc
from cryptography import x509
from etcd3 import transactions

from roadside.central.pki.ca import PkiError
from roadside.central.store import keys
from roadside.common.identity import Identity, of_certificate

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
ETCD_ERRORS = (etcd3.exceptions.Etcd3Exception, grpc.RpcError)


@dataclass(frozen=True, slots=True)
class CertRecord:
    serial: int
    kind: str
    name: str
    role: str
    issued_ns: int
    not_after_ns: int
    revoked_ns: int = 0

    @property
    def identity(self) -> Identity:
        return Identity(self.kind, self.name, self.role)

    def value(self) -> str:
        """The stored JSON (the serial is in the key)."""
        data = asdict(self)
        del data["serial"]
        return json.dumps(data)


class PkiRegistry:
    def __init__(self, client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> None:
        self.client = client
        self.ns = namespace

    def record(self, cert: x509.Certificate) -> CertRecord:
        who = of_certificate(cert)
        rec = CertRecord(cert.serial_number, who.kind, who.name, who.role, time.time_ns(),
                         int(cert.not_valid_after_utc.timestamp()) * NS_PER_S)
        self.client.put(keys.pki_cert_key(self.ns, rec.serial), rec.value())
        return rec

    def certs(self) -> list[CertRecord]:
        prefix = keys.pki_certs_prefix(self.ns)
        out = []
        for value, meta in self.client.get_prefix(prefix):
            serial = int(meta.key.decode()[len(prefix):], 16)
            out.append(CertRecord(serial, **json.loads(value)))
        return sorted(out, key=lambda r: r.issued_ns)

    def revoke(self, what: str) -> list[CertRecord]:
        """Revoke by serial (hex or decimal) or by name (every live certificate of it)."""
        now = time.time_ns()
        found = [r for r in self.certs() if not r.revoked_ns and (
            r.name == what or _serial_matches(r.serial, what))]
        if not found:
            raise PkiError(f"no live certificate with serial or name {what!r} "
                           "(see `roadside pki list`)")
        done = []
        for rec in found:
            revoked = replace(rec, revoked_ns=now)
            self.client.transaction(compare=[], success=[
                transactions.Put(keys.pki_cert_key(self.ns, rec.serial), revoked.value()),
                transactions.Put(keys.pki_revoked_key(self.ns, rec.serial), str(now)),
            ], failure=[])
            done.append(revoked)
        return done

    def add_token(self, digest: str, detector_id: str, ttl_s: float) -> None:
        lease = self.client.lease(max(1, int(ttl_s)))
        value = json.dumps({"detector_id": detector_id,
                            "expires_ns": time.time_ns() + int(ttl_s * NS_PER_S)})
        self.client.put(keys.pki_token_key(self.ns, digest), value, lease=lease)

    def take_token(self, digest: str) -> str | None:
        """The detector id of an unused, unexpired token, which is used up by this; None
        when there is no such token (never issued, used, or expired)."""
        key = keys.pki_token_key(self.ns, digest)
        value, meta = self.client.get(key)
        if value is None:
            return None
        data = json.loads(value)
        won, _ = self.client.transaction(
            compare=[self.client.transactions.mod(key) == meta.mod_revision],
            success=[transactions.Delete(key)], failure=[],
        )
        if not won or int(data["expires_ns"]) < time.time_ns():
            return None
        return str(data["detector_id"])


def _serial_matches(serial: int, text: str) -> bool:
    t = text.lower().removeprefix("0x")
    return t == f"{serial:x}" or (t.isdigit() and int(t) == serial)


class RevocationList:
    """The revoked serials, loaded at start and kept current by an etcd watch."""

    def __init__(self, client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> None:
        self.client = client
        self.prefix = keys.pki_revoked_prefix(namespace)
        self._revoked: set[int] = set()
        self._lock = threading.Lock()
        self._watch: int | None = None
        self._listeners: dict[int, list[Callable[[], None]]] = {}  # serial -> on revocation

    def start(self) -> None:
        revision = 0
        try:
            response = self.client.get_prefix_response(self.prefix, keys_only=True)
            revision = response.header.revision
            with self._lock:
                self._revoked = {int(kv.key.decode()[len(self.prefix):], 16)
                                 for kv in response.kvs}
            self._watch = self.client.add_watch_prefix_callback(
                self.prefix, self._on_event, start_revision=revision + 1)
        except ETCD_ERRORS as exc:
            log.warning("revocations not loaded yet (etcd: %s); retrying on the next call",
                        exc)

    def _on_event(self, response: object) -> None:
        for event in getattr(response, "events", ()):
            serial = int(event.key.decode()[len(self.prefix):], 16)
            with self._lock:
                if isinstance(event, etcd3.events.PutEvent):
                    self._revoked.add(serial)
                    listeners = list(self._listeners.get(serial, ()))
                else:
                    self._revoked.discard(serial)
                    listeners = []
            log.info("certificate %x revoked", serial)
            for callback in listeners:  # its open streams end now
                callback()
        if response is None or isinstance(response, BaseException):
            self._watch = None  # the watch ended: reload and watch again on next use

    def on_revoke(self, serial: int, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when `serial` is revoked (from the watch); returns the undo."""
        with self._lock:
            self._listeners.setdefault(serial, []).append(callback)

        def undo() -> None:
            with self._lock:
                found = self._listeners.get(serial, [])
                if callback in found:
                    found.remove(callback)
                if not found:
                    self._listeners.pop(serial, None)
        return undo

    def revoked(self, serial: int) -> bool:
        if self._watch is None:
            self.start()
        with self._lock:
            return serial in self._revoked

    def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            try:
                self.client.cancel_watch(watch)
            except ETCD_ERRORS as exc:
                log.debug("cancelling the revocation watch: %r", exc)
