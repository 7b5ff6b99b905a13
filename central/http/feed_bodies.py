"""Feed bodies built once and served from memory, with their ETag.

A body (a feed's whole reply: JSON, GeoJSON or DATEX II) is served as built for FRESH_S; after
that the next request asks the entries' cache whether anything it shows changed in etcd (one
keys-only look) and builds the body again only if so, or once it is MAX_AGE_S old (its last
hour slides on, a detector falls silent). While one request builds a body, the others get
the one before. So a feed is at most FRESH_S behind etcd plus a build, and a busy feed costs
a build per change, not per request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from roadside.central.http.feed_cache import MAX_AGE_S

FRESH_S = 1.0  # a body is served this long without a look at etcd
MOST = 64  # bodies kept (each distinct feed and query); the oldest go first


def etag(body: bytes) -> str:
    """A strong entity tag of the body."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


@dataclass(slots=True)
class Body:
    data: bytes
    tag: str
    built: float  # monotonic seconds
    checked: float  # last seen current
    generation: int  # the entries' generation it was built from


class FeedBodies:
    def __init__(self, generation: Callable[[], int], fresh_s: float = FRESH_S,
                 max_age_s: float = MAX_AGE_S) -> None:
        self._generation = generation  # looks at etcd: changes when a shown entry changed
        self._fresh_s = fresh_s
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._bodies: dict[Hashable, Body] = {}
        self._building: set[Hashable] = set()

    def get(self, key: Hashable, build: Callable[[], bytes],
            max_age_s: float | None = None) -> Body:
        """The body for `key` (a feed and its query), built by `build` when needed; one that
        shows what etcd's changes do not tell (detectors' health: silence comes with time)
        passes a shorter `max_age_s`."""
        most = self._max_age_s if max_age_s is None else max_age_s
        now = time.monotonic()
        with self._lock:
            found = self._bodies.get(key)
            if found is not None and (now - found.checked < self._fresh_s
                                      or key in self._building):
                return found
            self._building.add(key)
        try:
            generation = self._generation()
            if (found is not None and found.generation == generation
                    and now - found.built < most):
                found.checked = now
                return found
            data = build()
            body = Body(data, etag(data), now, now, generation)
            with self._lock:
                if len(self._bodies) >= MOST and key not in self._bodies:
                    del self._bodies[min(self._bodies, key=lambda k: self._bodies[k].checked)]
                self._bodies[key] = body
            return body
        finally:
            with self._lock:
                self._building.discard(key)
