"""Reads of stored detections: time ranges as key ranges, pages, streams and live follow.

Events come out in time order across detectors: by (timestamp_ns, key). A detector's keys
sort by bucket (10-digit unix seconds, years 2001-2286, so key order is time order), then
ULID (the pass's first sighting, not its timestamp), so each bucket (100 s of one detector)
is sorted as it is read and the detectors' streams are merged. A time range [since, until)
becomes a key range over the buckets it touches; the exact times are filtered per event. A
page token is the last event's (timestamp, key) (opaque to clients), so pages neither
repeat nor skip events that existed while paging. Keys are packed blocks of passes
(central/store/packed.py; the per-pass keys of the earlier layout are read too); an event's
key is the pass's own (packed.pass_key), and a pass stored in two blocks comes out once.
Bound: memory holds one bucket per detector read and one chunk of CHUNK_KEYS blocks.

A read hands its passes out in the `Shape` asked for: StoredPass records by default, or
built straight from the stored blocks into what the caller sends (the query service's
protobuf events), with no record in between.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import heapq
import itertools
import logging
import operator
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import etcd3
import grpc

from roadside.central.errors import InvalidArgument, ResourceExhausted, StoreUnavailable
from roadside.central.store import archive, keys, packed
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import StoredPass
from roadside.central.store.shards import Snapshot
from roadside.common.iters import batched

log = logging.getLogger(__name__)

FOLLOW_BACKLOG_EVENTS = 20_000  # events a follower may fall behind the watch before it ends


CHUNK_KEYS = 100  # keys (blocks) per etcd range read when streaming (bounds memory)
MIN_CHUNK_KEYS = 16  # per detector, when a read merges many detectors' streams
DEFAULT_PAGE = 1000  # events per page when the client asks for 0
MAX_PAGE = 10_000  # the largest page a client may ask for
MAX_CURSORS = 32  # GetEvents reads kept for their next page (each holds a few blocks)
CURSOR_TTL_S = 30.0  # how long one waits for its next page
_TOKEN_PREFIX = "t3:"
DAY_NS = 86_400 * keys.NS_PER_S

Position = tuple[int, str]  # (timestamp_ns, key): the order events come out in
Item = packed.Item  # (timestamp_ns, key, how to build the pass in the shape asked for)
_position = operator.itemgetter(0, 1)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a read hands out for each pass: made from a stored block's packed pass
    (packed.MakePass), or from a StoredPass (the per-pass layout, the archive)."""

    from_packed: packed.MakePass = packed.stored_pass
    from_record: Callable[[StoredPass], Any] = lambda p: p


RECORDS = Shape()


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which detections to read. Empty detector_ids = every detector."""

    detector_ids: tuple[str, ...] = ()
    since_ns: int = 0  # inclusive; 0 = no lower bound
    until_ns: int = 0  # exclusive; 0 = no upper bound

    def wants(self, item: StoredPass) -> bool:
        t = item.timestamp_ns
        if self.since_ns and t < self.since_ns:
            return False
        if self.until_ns and t >= self.until_ns:
            return False
        return not self.detector_ids or item.detector_id in self.detector_ids


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Any]  # in the Shape asked for
    next_token: str  # empty when there is no more


def encode_token(position: Position, span_ns: int = 0) -> str:
    """A page token: the position to resume after and the time the page spanned (where
    the next page looks first)."""
    t_ns, key = position
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{t_ns}:{span_ns}:{key}".encode()).decode()


def decode_token(ns: str, token: str) -> tuple[Position, int]:
    """(the position a page token resumes after, the span of its page); InvalidArgument
    when it is not ours. Tokens of earlier versions (t2:, without a span) still resume."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidArgument("page_token: malformed") from exc
    version, _, rest = text.partition(":")
    t_text, _, rest = rest.partition(":")
    span_text, key = ("0", rest) if version == "t2" else rest.partition(":")[::2]
    if (f"{version}:" not in (_TOKEN_PREFIX, "t2:") or not t_text.isdigit()
            or not span_text.isdigit() or not key.startswith(keys.detections_prefix(ns))):
        raise InvalidArgument("page_token: not a token of this server")
    return (int(t_text), key), int(span_text)


def _once(items: Iterable[Item]) -> Iterator[Item]:
    """Items in position order, a pass stored twice (two blocks, or etcd and the archive)
    once: its copies come one after another."""
    previous = ""
    for item in items:
        if item[1] != previous:
            yield item
        previous = item[1]


@contextlib.contextmanager
def etcd_errors(what: str) -> Iterator[None]:
    """etcd client errors inside -> StoreUnavailable naming `what`."""
    try:
        yield
    except (etcd3.exceptions.Etcd3Exception, grpc.RpcError) as exc:
        raise StoreUnavailable(f"etcd unavailable while {what}: {exc!r}") from exc


class Cursors:
    """Reads a page stopped in, by (query, shape, next token): at most MAX_CURSORS, each for
    CURSOR_TTL_S (a client that does not come back leaves its read to expire)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], tuple[float, Iterator[Item]]] = {}

    def keep(self, key: tuple[Any, ...], items: Iterator[Item]) -> None:
        now = time.monotonic()
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if now - v[0] < CURSOR_TTL_S}
            while len(self._kept) >= MAX_CURSORS:
                del self._kept[next(iter(self._kept))]  # the oldest
            self._kept[key] = (now, items)

    def take(self, key: tuple[Any, ...]) -> Iterator[Item] | None:
        with self._lock:
            found = self._kept.pop(key, None)
        if found is None or time.monotonic() - found[0] >= CURSOR_TTL_S:
            return None
        return found[1]


class EventReader:
    """Reads detections on an EtcdStore's client and namespace."""

    def __init__(self, store: EtcdStore, archive_dir: Path | None = None) -> None:
        self.shards = store.shards  # the etcd of each detector's passes
        self.ns = store.namespace
        self.archive_dir = archive_dir  # closed days exported to Parquet (store/archive.py)
        self._cursors = Cursors()  # GetEvents' reads, each kept for its next page

    # one page --------------------------------------------------------------

    def page(self, query: EventQuery, limit: int = 0, token: str = "",
             shape: Shape = RECORDS) -> Page:
        """At most `limit` events (0 = DEFAULT_PAGE) after `token`, and the next token.

        A page reads a time window after its start (a quarter longer than the last page
        spanned, at least a second), widening it twice over until the page fills or the
        range ends: only each detector's passes in the window are built and sorted. The read
        goes on where the page ends: the next page of the same query, asked of this central
        within CURSOR_TTL_S, continues it (no block read or decoded again); any other token,
        or a page asked elsewhere, reads afresh from its position."""
        if limit < 0 or limit > MAX_PAGE:
            raise InvalidArgument(f"limit: must be between 0 and {MAX_PAGE}, got {limit}")
        size = limit or DEFAULT_PAGE
        after, span = decode_token(self.ns, token) if token else (None, 0)
        items = self._cursors.take((query, shape, token)) if token else None
        if items is None:
            items = self._paged(query, after, span, shape)
        events: list[Any] = []
        first_ns = 0
        item_last: Position = (0, "")
        for item in items:
            if len(events) == size:
                next_token = encode_token(item_last, item_last[0] - first_ns)
                self._cursors.keep((query, shape, next_token), itertools.chain((item,), items))
                return Page(events, next_token)
            if not events:
                first_ns = item[0]
            events.append(packed.built(item))
            item_last = item[0], item[1]
        return Page(events, "")

    def _paged(self, query: EventQuery, after: Position | None, span: int,
               shape: Shape) -> Iterator[Item]:
        """The items after `after` in windows: the first a quarter longer than `span` (at
        least a second), each next twice the one before, the last to the range's end."""
        start = after[0] if after is not None else query.since_ns
        look = max(span + span // 4, keys.NS_PER_S)
        last = after
        # past this (a day from now: stored times are at most clock_skew_s ahead) the last
        # window takes the rest of the range
        stop = query.until_ns or time.time_ns() + DAY_NS
        while True:
            end = start + look if start else 0
            ends = 0 < end < stop
            window = dataclasses.replace(query, since_ns=start,
                                         until_ns=end if ends else query.until_ns)
            for item in self._scan(window, last, None, CHUNK_KEYS, shape, prefetch=False):
                last = item[0], item[1]
                yield item
            if not ends:
                return
            start, look = end, 2 * look

    # a whole range, in bounded memory -----------------------------------------

    def iter_events(self, query: EventQuery, chunk: int = CHUNK_KEYS,
                    shape: Shape = RECORDS) -> Iterator[Any]:
        """Every matching event, read in chunks at one revision of each etcd (a consistent
        snapshot)."""
        return (make(*args) for _t, _key, make, args  # (packed.built, inline)
                in self._scan(query, None, self.shards.snapshot(), chunk, shape))

    def has_detector(self, detector_id: str) -> bool:
        """Whether any detection of this detector is stored."""
        name = self.shards.shard_of(detector_id)
        with etcd_errors(f"looking up a detector on {self.shards.where(name)}"):
            resp = self.shards.client(name).get_prefix_response(
                keys.detector_prefix(self.ns, detector_id), keys_only=True, limit=1
            )
        return bool(resp.kvs)

    # live ----------------------------------------------------------------------

    def follow(self, query: EventQuery, max_backlog: int = FOLLOW_BACKLOG_EVENTS) -> Follow:
        """Everything stored now, then new events as they are committed, until cancelled
        (or until the reader falls more than `max_backlog` events behind)."""
        return Follow(self, query, max_backlog)

    # internals -----------------------------------------------------------------

    def _scan(
        self, query: EventQuery, after: Position | None, revision: Snapshot | None,
        chunk: int, shape: Shape, prefetch: bool = True,
    ) -> Iterator[Item]:
        """Items in time order after `after`: the detectors' sorted streams merged."""
        detectors = list(self._detectors(query, revision))
        if len(detectors) == 1:
            return self._detector_scan(detectors[0], query, after, revision, chunk, shape,
                                       prefetch)
        each = max(MIN_CHUNK_KEYS, chunk // max(1, len(detectors)))
        streams = [self._detector_scan(d, query, after, revision, each, shape, False)
                   for d in detectors]
        # items compare by position: (t, key) first, and two detectors' keys always differ
        return heapq.merge(*streams)

    def _detector_scan(
        self, detector_id: str, query: EventQuery, after: Position | None,
        revision: Snapshot | None, chunk: int, shape: Shape, prefetch: bool,
    ) -> Iterator[Item]:
        """One detector's items in (timestamp, key) order: etcd's, and the archive's for
        the days exported to it (a pass in both comes out once)."""
        stored = self._etcd_scan(detector_id, query, after, revision, chunk, shape, prefetch)
        if self.archive_dir is None:
            return stored
        archived = ((p.timestamp_ns, key, shape.from_record, (p,))
                    for key, p in archive.scan(self.archive_dir, self.ns, detector_id,
                                               query.since_ns, query.until_ns)
                    if after is None or (p.timestamp_ns, key) > after)
        return _once(heapq.merge(archived, stored, key=_position))

    def _etcd_scan(
        self, detector_id: str, query: EventQuery, after: Position | None,
        revision: Snapshot | None, chunk: int, shape: Shape, prefetch: bool,
    ) -> Iterator[Item]:
        """One detector's items in etcd in (timestamp, key) order: each bucket sorted."""
        start, end = self._key_range(detector_id, query)
        if after is not None:
            resume = keys.bucket_prefix(self.ns, detector_id, keys.bucket_of(after[0]))
            start = max(start, resume)
        if start >= end:
            return iter(())
        name = self.shards.shard_of(detector_id)
        at = revision.revision(name) if revision is not None else None
        since = max(after[0] if after is not None else 0, query.since_ns)
        blocks = self._scan_range(name, query, start, end, at, chunk, shape, prefetch, since)
        return itertools.chain.from_iterable(_buckets(blocks, after))

    def _scan_range(
        self, shard: str, query: EventQuery, start: str, end: str, revision: int | None,
        chunk: int, shape: Shape, prefetch: bool, since_ns: int,
    ) -> Iterator[tuple[str, list[Item]]]:
        """(the key's bucket, its items) of each key, read in chunks of up to `chunk` keys
        (the first of one key, each next twice the last: a page may need only one); with
        `prefetch` the next chunk is read from etcd (in a worker thread) while this one is
        decoded."""
        ns = self.ns
        prefix_len = len(keys.detections_prefix(ns))
        with contextlib.ExitStack() as stack:
            pool = None
            if prefetch:
                pool = stack.enter_context(
                    futures.ThreadPoolExecutor(1, thread_name_prefix="event-prefetch")
                )
            size = 1
            resp = self._range(shard, start, end, revision, size)
            while True:
                last = resp.kvs[-1].key.decode() + "\0" if resp.more and resp.kvs else None
                size = min(2 * size, chunk)
                ahead = None
                if pool is not None and last is not None:
                    ahead = pool.submit(self._range, shard, last, end, revision, size)
                for kv in resp.kvs:
                    key = kv.key.decode()
                    try:  # a page resuming in a bucket: its earlier passes are not built
                        items = packed.items(ns, key, kv.value, since_ns, query.until_ns,
                                             shape.from_packed, shape.from_record)
                    except packed.UNREADABLE:
                        log.warning("skipping unreadable detections at %s", key)
                        continue
                    yield key[prefix_len:].split("/", 2)[1], items
                if last is None:
                    return
                resp = (ahead.result() if ahead
                        else self._range(shard, last, end, revision, size))

    def _range(self, shard: str, start: str, end: str, revision: int | None,
               chunk: int) -> Any:
        with etcd_errors(f"reading detections on {self.shards.where(shard)}"):
            return self.shards.client(shard).get_range_response(start, end, limit=chunk,
                                                                revision=revision)

    def _key_range(self, detector_id: str, query: EventQuery) -> tuple[str, str]:
        ns = self.ns
        start = keys.detector_prefix(ns, detector_id)
        end = keys.prefix_end(start)
        if query.since_ns > 0:
            start = keys.bucket_prefix(ns, detector_id, keys.bucket_of(query.since_ns))
        if query.until_ns > 0:
            last = keys.bucket_of(query.until_ns - 1)
            end = keys.prefix_end(keys.bucket_prefix(ns, detector_id, last))
        return start, end

    def _detectors(self, query: EventQuery, revision: Snapshot | None) -> Iterator[str]:
        """The detectors to read; discovered from the keys when none given."""
        if query.detector_ids:
            yield from sorted(set(query.detector_ids))
            return
        if self.archive_dir is not None:
            found = set(self.stored_detectors(revision))
            found |= archive.detectors_in(self.archive_dir, query.since_ns, query.until_ns)
            yield from sorted(found)
            return
        yield from self.stored_detectors(revision)

    def stored_detectors(self, revision: Snapshot | None = None) -> Iterator[str]:
        """The detectors with passes in etcd (on any shard), in key order."""
        yield from heapq.merge(*(self._detectors_on(name, revision)
                                 for name in self.shards.names()))

    def _detectors_on(self, name: str, revision: Snapshot | None) -> Iterator[str]:
        prefix = keys.detections_prefix(self.ns)
        end = keys.prefix_end(prefix)
        start = prefix
        client = self.shards.client(name)
        at = revision.revision(name) if revision is not None else None
        while True:
            with etcd_errors(f"listing detectors on {self.shards.where(name)}"):
                resp = client.get_range_response(
                    start, end, limit=1, keys_only=True, revision=at
                )
            if not resp.kvs:
                return
            detector_id = resp.kvs[0].key.decode()[len(prefix):].split("/", 1)[0]
            yield detector_id
            start = keys.prefix_end(keys.detector_prefix(self.ns, detector_id))


def _buckets(blocks: Iterable[tuple[str, list[Item]]],
             after: Position | None) -> Iterator[list[Item]]:
    """Each bucket's items (its keys' lists gathered) in position order, each pass once,
    after `after`."""
    bucket, parts = "", 0
    group: list[Item] = []
    for key_bucket, items in blocks:
        if key_bucket != bucket:
            yield _sorted(group, parts, after)
            bucket, parts = key_bucket, 0
            group = []
        group += items
        parts += 1
    yield _sorted(group, parts, after)


def _sorted(group: list[Item], parts: int, after: Position | None) -> list[Item]:
    """One bucket's items (from `parts` keys) in position order, each pass once, after
    `after`."""
    group.sort(key=_position)
    if parts > 1:  # the same pass in two keys: its copies sort next to each other
        group = list(_once(group))
    if after is None:
        return group
    return [item for item in group if (item[0], item[1]) > after]


_END = object()
_OVERFLOW = object()


def _weight(response: object) -> int:
    """What a queued watch response counts against the backlog: its passes (at least 1)."""
    if isinstance(response, list):
        return sum(len(items) for _shard, _event, items in response) or 1
    return 1


class Follow:
    """Iterate: stored events up to revision R, then events committed after R.

    cancel() (safe twice, from any thread, e.g. a gRPC termination callback) ends the
    iteration and the etcd watch. The watch's responses wait in a queue bounded by
    `max_backlog` events: a reader that falls further behind (a client that does not read)
    gets ResourceExhausted instead of central growing without end.
    """

    def __init__(self, reader: EventReader, query: EventQuery,
                 max_backlog: int = FOLLOW_BACKLOG_EVENTS) -> None:
        self._reader = reader
        self._query = query
        self._max_backlog = max_backlog
        self._queued = 0  # events waiting in the queue
        self._overflowed = False
        self._queue: queue.Queue[object] = queue.Queue()
        self._cancelled = threading.Event()
        self._watches: list[tuple[Any, int]] = []  # (client, watch id): one per etcd
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled.is_set():
                return
            self._cancelled.set()
            watches, self._watches = self._watches, []
        self._queue.put(_END)
        for client, watch_id in watches:
            _cancel_watch(client, watch_id)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def __iter__(self) -> Iterator[StoredPass]:
        for page in self.pages():
            yield from page

    def pages(self, size: int = CHUNK_KEYS) -> Iterator[list[StoredPass]]:
        """The same events in lists: up to `size` from storage, then one per etcd watch
        response (so a live page is never held back waiting to fill)."""
        reader, query = self._reader, self._query
        shards = reader.shards
        snapshot = shards.snapshot()
        names = shards.shards_of(query.detector_ids) if query.detector_ids else shards.names()
        for name in names:
            self._start_watch(name, snapshot.revision(name) + 1)
        try:
            for page in batched(reader._scan(query, None, snapshot, CHUNK_KEYS, RECORDS),
                                size):
                if self.cancelled:
                    return
                yield [packed.built(item) for item in page]
            yield from self._live()
        finally:
            self.cancel()

    def _start_watch(self, shard: str, start_revision: int) -> None:
        ns = self._reader.ns
        prefix = keys.detections_prefix(ns)
        if len(self._query.detector_ids) == 1:
            prefix = keys.detector_prefix(ns, self._query.detector_ids[0])
        client = self._reader.shards.client(shard)
        with etcd_errors(f"starting a watch on {self._reader.shards.where(shard)}"):
            watch_id = client.add_watch_prefix_callback(
                prefix, functools.partial(self._on_watch, shard), start_revision=start_revision
            )
        with self._lock:
            if not self._cancelled.is_set():
                self._watches.append((client, watch_id))
                return
        _cancel_watch(client, watch_id)

    def _on_watch(self, shard: str, response: object) -> None:
        """A watch thread's callback: queue a response, decoded into its new passes, unless
        the reader is too far behind (counted in passes)."""
        if response is not None and not isinstance(response, BaseException):
            response = self._new_passes(shard, response)
        n = _weight(response)
        with self._lock:
            if self._overflowed:
                return
            if self._queued and self._queued + n > self._max_backlog:
                self._overflowed = True
                response = _OVERFLOW
            else:
                self._queued += n
        self._queue.put(response)

    def _live(self) -> Iterator[list[StoredPass]]:
        ns, query = self._reader.ns, self._query
        while True:
            response = self._queue.get()
            if response is _END or self.cancelled:
                return
            if response is _OVERFLOW:
                raise ResourceExhausted(
                    f"follow: the client fell more than {self._max_backlog} events behind; "
                    "read faster, or reconnect from the last event's time"
                )
            if not isinstance(response, list):
                raise StoreUnavailable(f"etcd watch ended: {response!r}") from (
                    response if isinstance(response, BaseException) else None
                )
            with self._lock:
                self._queued -= _weight(response)
            page = []
            for shard, event, items in response:
                known = self._stored_before(shard, event)
                page += [(p.timestamp_ns, key, p)
                         for key, p in ((packed.pass_key(ns, p), p) for p in items)
                         if key not in known and query.wants(p)]
            if page:  # one commit's passes in time order
                yield [item[2] for item in sorted(page, key=_position)]

    def _new_passes(self, shard: str,
                    response: object) -> list[tuple[str, Any, list[StoredPass]]]:
        """(shard, event, passes) of each key the response creates; a re-uploaded batch rewrites
        its keys (version > 1): nothing new."""
        out = []
        for event in getattr(response, "events", ()):
            if not isinstance(event, etcd3.events.PutEvent) or event.version != 1:
                continue
            try:
                items = packed.decode(self._reader.ns, event.key, event.value)
            except packed.UNREADABLE:
                continue
            if items:
                out.append((shard, event, items))
        return out

    def _stored_before(self, shard: str, event: Any) -> set[str]:
        """The pass keys of the event's bucket just before it: a pass in a block that an
        earlier, differently grouped batch already stored is not new."""
        key = event.key.decode()
        if not packed.is_block_key(key):
            return set()
        bucket = key[:key.rindex("/") + 1]
        ns = self._reader.ns
        with etcd_errors("reading a bucket"):
            resp = self._reader.shards.client(shard).get_range_response(
                bucket, keys.prefix_end(bucket), revision=event.mod_revision - 1)
        known: set[str] = set()
        for kv in resp.kvs:
            with contextlib.suppress(*packed.UNREADABLE):
                known.update(packed.pass_key(ns, p) for p in packed.decode(ns, kv.key, kv.value))
        return known


def _cancel_watch(client: Any, watch_id: int) -> None:
    try:
        client.cancel_watch(watch_id)
    except (etcd3.exceptions.Etcd3Exception, grpc.RpcError) as exc:
        log.debug("cancelling an etcd watch failed: %r", exc)
