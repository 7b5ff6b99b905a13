"""HTTP API keys: an admin issues one per consumer with a role; etcd holds only its hash.

A key is `rsk1.` + 32 random bytes (URL-safe base64). Its record, under the SHA-256 of the
whole key, holds the name, the role and when it was issued or revoked. Central checks a key
against etcd at most every CACHE_S seconds, so a revoked key is refused within that.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass

import etcd3

from roadside.central.errors import InvalidArgument, NotFound
from roadside.central.store import keys
from roadside.common.identity import ROLES

PREFIX = "rsk1."
CACHE_S = 2.0  # a revocation takes effect within this


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: str
    issued_ns: int
    revoked_ns: int = 0

    def to_json(self) -> bytes:
        return json.dumps({"name": self.name, "role": self.role, "issued_ns": self.issued_ns,
                           "revoked_ns": self.revoked_ns}).encode()

    @classmethod
    def from_json(cls, value: bytes) -> ApiKey:
        d = json.loads(value)
        return cls(str(d["name"]), str(d["role"]), int(d["issued_ns"]), int(d["revoked_ns"]))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Issue, list, revoke and check keys in the namespace's etcd."""

    def __init__(self, client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> None:
        self.client = client
        self.ns = namespace
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def issue(self, name: str, role: str) -> str:
        """A new key for `name` with `role`; the key is shown once, only its hash is kept."""
        if role not in ROLES:
            raise InvalidArgument(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
        if not keys.DETECTOR_ID_RE.fullmatch(name):
            raise InvalidArgument(f"NAME: {name!r} is not a name ([a-z0-9][a-z0-9_-]{{0,62}})")
        if any(k.name == name and not k.revoked_ns for _d, k in self.all()):
            raise InvalidArgument(f"an API key named {name!r} is in use: revoke it first")
        key = PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        record = ApiKey(name, role, time.time_ns())
        self.client.put(keys.apikey_key(self.ns, digest(key)), record.to_json())
        return key

    def all(self) -> list[tuple[str, ApiKey]]:
        prefix = keys.apikeys_prefix(self.ns)
        out = []
        for value, meta in self.client.get_prefix(prefix):
            out.append((meta.key.decode()[len(prefix):], ApiKey.from_json(value)))
        return sorted(out, key=lambda item: item[1].issued_ns)

    def revoke(self, name: str) -> int:
        """Revoke every live key named `name`; how many."""
        done = 0
        for key_digest, record in self.all():
            if record.name == name and not record.revoked_ns:
                revoked = ApiKey(record.name, record.role, record.issued_ns, time.time_ns())
                self.client.put(keys.apikey_key(self.ns, key_digest), revoked.to_json())
                done += 1
        if not done:
            raise NotFound(f"no live API key named {name!r} (roadside apikey list)")
        return done

    def check(self, key: str) -> ApiKey | None:
        """The live key's record, or None (unknown, revoked, or not a key)."""
        if not key.startswith(PREFIX) or len(key) > 100:
            return None
        key_digest = digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_digest)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        value, _meta = self.client.get(keys.apikey_key(self.ns, key_digest))
        record = ApiKey.from_json(value) if value else None
        if record is not None and record.revoked_ns:
            record = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_digest] = (now, record)
        return record
