"""Packed detections on a real etcd: a pass in two differently grouped batches counts once for
every reader, the per-pass layout written by earlier versions is still read, paging at block
edges neither repeats nor skips, and a follower sees a new block's new passes only."""

from __future__ import annotations

import dataclasses
import threading

import etcd3
from ulid import ULID

from roadside.central.store import keys, packed
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.store.records import StoredPass
from roadside.central.traveltime import store as tt_store
from roadside.proto.query import query_pb2 as legacy_pb2
from roadside.proto.v1 import query_pb2
from tests.central.query_helpers import BASE_NS, DEADLINE_S, make_pass
from tests.fixtures.query import QueryServer
from tests.fixtures.stored import passes_in

S = 1_000_000_000


def ids(events: object) -> list[str]:
    return [e.ulid for e in events]  # type: ignore[attr-defined]


def test_a_pass_in_two_groupings_is_counted_once_by_every_reader(
    query_server: QueryServer, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    store = query_server.store
    passes = [make_pass("regroup", BASE_NS + i * S) for i in range(10)]
    store.put_passes(passes[:6])
    # 3, 4 and 5 again, grouped otherwise, in a block of their own: what two replicas
    # writing the same re-sent batch at once, or an earlier version, leave
    again = [p.as_detection() for p in passes[3:]]
    bucket = keys.bucket_of(again[0][1])
    etcd_client.put(packed.block_key(keys.detector_prefix(namespace, "regroup"), bucket,
                                     packed.block_id(again)), packed.encode_block(bucket, again))
    blocks = list(etcd_client.get_prefix(keys.detector_prefix(namespace, "regroup")))
    assert len(blocks) == 2  # two blocks in one bucket, three passes in both
    want = [p.ulid for p in passes]

    reply = query_server.stub.GetEvents(query_pb2.GetEventsRequest(detector_ids=["regroup"]),
                                        timeout=DEADLINE_S)
    assert [getattr(e, "pass").ulid for e in reply.events] == want
    legacy = query_server.legacy.GetEvents(
        legacy_pb2.GetEventsRequest(detector_ids=["regroup"]), timeout=DEADLINE_S)
    assert len(legacy.events) == 10
    reader = EventReader(store)
    assert ids(reader.iter_events(EventQuery(("regroup",)))) == want
    paged, token = [], ""
    while True:
        page = reader.page(EventQuery(("regroup",)), limit=4, token=token)
        paged += page.events
        if not (token := page.next_token):
            break
    assert ids(paged) == want
    found = tt_store.read_passes(etcd_client, namespace, "regroup", BASE_NS, BASE_NS + 100 * S)
    assert sorted(found) == sorted((p.device_id, p.timestamp_ns) for p in passes)


def test_the_per_pass_layout_of_earlier_versions_is_still_read(
    query_store: EtcdStore, etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    old = [make_pass("mixed", BASE_NS + i * 7 * S) for i in range(6)]
    for p in old:  # as central wrote them before packing: one JSON value per pass
        etcd_client.put(p.key(namespace), p.to_json())
    new = [make_pass("mixed", BASE_NS + (i * 7 + 3) * S) for i in range(6)]
    query_store.put_passes([*new, old[2]])  # old[2] is in both layouts now
    everything = sorted([*old, *new], key=lambda p: p.timestamp_ns)

    got = list(EventReader(query_store).iter_events(EventQuery(("mixed",))))
    assert got == everything
    found = tt_store.read_passes(etcd_client, namespace, "mixed", BASE_NS, BASE_NS + 200 * S)
    assert sorted(found) == sorted((p.device_id, p.timestamp_ns) for p in everything)
    assert len(passes_in(etcd_client, namespace, "mixed")) == 12


def test_paging_at_block_and_bucket_edges_neither_repeats_nor_skips(
    query_store: EtcdStore,
) -> None:
    """Blocks of 3 passes over two buckets and two detectors; pages of 1 to 7."""
    passes: list[StoredPass] = []
    for det in ("east", "west"):
        for block in range(4):
            group = [make_pass(det, BASE_NS + (block * 60 + i) * S) for i in range(3)]
            query_store.put_passes(group)
            passes += group
    reader = EventReader(query_store)
    want = [p.ulid for p in sorted(passes, key=lambda p: (p.timestamp_ns, p.key("x")))]
    assert ids(reader.iter_events(EventQuery())) == want
    for size in range(1, 8):
        paged, token = [], ""
        while True:
            page = reader.page(EventQuery(), limit=size, token=token)
            paged += page.events
            if not (token := page.next_token):
                break
        assert ids(paged) == want, size


def test_a_follower_sees_whole_blocks_and_only_their_new_passes(query_store: EtcdStore) -> None:
    first = [make_pass("live", BASE_NS + i * S) for i in range(5)]
    query_store.put_passes(first)
    follow = EventReader(query_store).follow(EventQuery(("live",)))
    pages: list[list[StoredPass]] = []
    got = threading.Condition()

    def read() -> None:
        for page in follow.pages(size=100):
            with got:
                pages.append(page)
                got.notify_all()

    reader = threading.Thread(target=read, name="test-follow", daemon=True)
    reader.start()
    try:
        with got:
            assert got.wait_for(lambda: len(pages) == 1, DEADLINE_S)
        assert ids(pages[0]) == ids(first)
        more = [make_pass("live", BASE_NS + (10 + i) * S) for i in range(4)]
        query_store.put_passes([*first[3:], *more])  # two known again, four new, one block
        with got:
            assert got.wait_for(lambda: len(pages) == 2, DEADLINE_S)
        assert ids(pages[1]) == ids(more)
    finally:
        follow.cancel()
        reader.join(DEADLINE_S)


def test_a_block_gives_back_every_figure_and_keeps_an_agent_s_ulid_in_ten_bytes() -> None:
    t = BASE_NS + 7 * S
    made = [make_pass("box", t + i * S) for i in range(3)]  # ULIDs of their own
    agents = [dataclasses.replace(p, ulid=str(ULID.from_timestamp(p.first_ns / 1e9)))
              for p in made]  # as a box makes them: time = first sighting
    for group in (made, agents):
        value = packed.encode_block(keys.bucket_of(t), [p.as_detection() for p in group])
        assert packed.decode_block("box", value) == group
    short = packed.encode_block(keys.bucket_of(t), [p.as_detection() for p in agents])
    full = packed.encode_block(keys.bucket_of(t), [p.as_detection() for p in made])
    assert len(full) - len(short) == 3 * 6

