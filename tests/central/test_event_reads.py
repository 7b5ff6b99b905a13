"""EventReader on a real etcd: bucket edges, several detectors, paging, snapshots."""

from __future__ import annotations

import base64

import pytest

from roadside.central.errors import InvalidArgument
from roadside.central.store import keys
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import MAX_CURSORS, Cursors, EventQuery, EventReader
from tests.central.query_helpers import BASE_NS, make_pass

S = 1_000_000_000


@pytest.fixture
def reader(query_store: EtcdStore) -> EventReader:
    return EventReader(query_store)


def test_range_at_bucket_edges_is_since_inclusive_until_exclusive(
    query_store: EtcdStore, reader: EventReader
) -> None:
    edge = BASE_NS + 100 * S  # the first ns of a bucket
    times = [edge - 1, edge, edge + 1, edge + 100 * S - 1, edge + 100 * S]
    query_store.put_passes([make_pass("d1", t) for t in times])
    assert keys.bucket_of(edge - 1) != keys.bucket_of(edge)

    got = [e.timestamp_ns for e in reader.iter_events(EventQuery(("d1",), edge, edge + 100 * S))]
    assert sorted(got) == [edge, edge + 1, edge + 100 * S - 1]

    got = [e.timestamp_ns for e in reader.iter_events(EventQuery(("d1",), edge + 1, edge + 1 + 1))]
    assert got == [edge + 1]

    got = [e.timestamp_ns for e in reader.iter_events(EventQuery(("d1",), 0, edge))]
    assert got == [edge - 1]

    got = [e.timestamp_ns for e in reader.iter_events(EventQuery(("d1",), edge + 100 * S, 0))]
    assert got == [edge + 100 * S]


@pytest.mark.parametrize("continued", [True, False], ids=["continued", "each-page-afresh"])
def test_paging_has_no_duplicates_and_no_misses(
    query_store: EtcdStore, reader: EventReader, continued: bool,
) -> None:
    """A page continues the read of the page before (the same central) or reads afresh
    from its token (another central, or after CURSOR_TTL_S): the same pages either way."""
    # detector ids whose prefixes sort differently from the ids ('-' < '/')
    stored = [
        make_pass(det, BASE_NS + i * 37 * S)
        for det in ("a", "a-b", "b")
        for i in range(40)
    ]
    query_store.put_passes(stored)
    for query in (EventQuery(), EventQuery(("b", "a", "a-b")), EventQuery(("a",), BASE_NS, 0)):
        want = {p.ulid + p.device_id for p in stored if query.wants(p)}
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            on = reader if continued else EventReader(query_store)  # a central without it
            page = on.page(query, limit=7, token=token)
            assert len(page.events) <= 7
            seen += [p.ulid + p.device_id for p in page.events]
            pages += 1
            token = page.next_token
            if not token:
                break
        assert len(seen) == len(set(seen))
        assert set(seen) == want
        assert pages == -(-len(want) // 7)


@pytest.mark.parametrize("continued", [True, False], ids=["continued", "each-page-afresh"])
def test_pages_cross_gaps_and_bursts_and_older_tokens_resume(
    query_store: EtcdStore, reader: EventReader, continued: bool,
) -> None:
    """A page looks as far as the last page spanned, then wider: a burst after hours of
    silence, passes at one instant, a range's end and a token of the earlier format
    (t2:, without the span) all page without a repeat or a miss."""
    hour = 3600 * S
    times = ([BASE_NS + i * S for i in range(20)]  # a burst, one a second
             + [BASE_NS + 6 * hour] * 9  # six hours later, nine at one instant
             + [BASE_NS + 30 * hour + i * 60 * S for i in range(10)])  # a day later
    stored = [make_pass(det, t + n) for n, t in enumerate(times) for det in ("a", "b")]
    query_store.put_passes(stored)
    for query in (EventQuery(), EventQuery((), BASE_NS + 10 * S, BASE_NS + 30 * hour + 5)):
        want = [(p.timestamp_ns, p.ulid) for p in stored if query.wants(p)]
        seen, token = [], ""
        while True:
            on = reader if continued else EventReader(query_store)
            page = on.page(query, limit=4, token=token)
            seen += [(e.timestamp_ns, e.ulid) for e in page.events]
            token = page.next_token
            if not token:
                break
        assert sorted(seen) == sorted(want) and len(seen) == len(want)
        assert [t for t, _ in seen] == sorted(t for t, _ in seen)  # in time order
    first = reader.page(EventQuery(), limit=5)
    position = base64.urlsafe_b64decode(first.next_token).decode().split(":", 3)
    old = base64.urlsafe_b64encode(f"t2:{position[1]}:{position[3]}".encode()).decode()
    assert reader.page(EventQuery(), 5, old).events == reader.page(
        EventQuery(), 5, first.next_token).events
    # a page asked twice (a client's retry): the second read afresh, the same events
    again = reader.page(EventQuery(), limit=5)
    twice = [reader.page(EventQuery(), 5, again.next_token) for _ in range(2)]
    assert twice[0].events == twice[1].events and twice[0].next_token == twice[1].next_token


def test_bad_page_token_and_limit_are_refused(reader: EventReader) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        reader.page(EventQuery(), 10, "not-a-token!")
    with pytest.raises(InvalidArgument, match="limit"):
        reader.page(EventQuery(), 10**6)


def test_iter_events_reads_in_chunks_at_one_revision(
    query_store: EtcdStore, reader: EventReader
) -> None:
    query_store.put_passes([make_pass("d1", BASE_NS + i * S) for i in range(25)])
    it = reader.iter_events(EventQuery(("d1",)), chunk=4)
    first = next(it)
    # written after the read started: not part of this snapshot
    query_store.put_passes([make_pass("d1", BASE_NS + 5 * S + 1)])
    rest = list(it)
    assert len(rest) + 1 == 25
    assert first.timestamp_ns == BASE_NS


def test_reads_kept_for_a_next_page_are_bounded() -> None:
    """Clients that never come back for their next page cannot grow central's memory."""
    kept = Cursors()
    for n in range(MAX_CURSORS + 8):
        kept.keep(("query", n), iter(()))
    assert kept.take(("query", 0)) is None  # the oldest made room
    assert kept.take(("query", MAX_CURSORS + 7)) is not None
    assert kept.take(("query", MAX_CURSORS + 7)) is None  # taken once: a retry reads afresh
