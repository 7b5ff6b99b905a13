"""Feed bodies: built once per change, served from memory meanwhile, with their ETag."""

from __future__ import annotations

import threading

from roadside.central.http.feed_bodies import FeedBodies, etag


class Feed:
    """A feed's inputs: `generation` changes when something it shows changes."""

    def __init__(self) -> None:
        self.generation = 0
        self.looks = 0
        self.builds = 0

    def look(self) -> int:
        self.looks += 1
        return self.generation

    def build(self) -> bytes:
        self.builds += 1
        return b'{"generation": %d}' % self.generation


def test_a_body_is_built_once_and_served_until_what_it_shows_changes() -> None:
    feed = Feed()
    bodies = FeedBodies(feed.look, fresh_s=0.0, max_age_s=3600)  # etcd asked on every request
    first = bodies.get("tt", feed.build)
    assert first.data == b'{"generation": 0}' and first.tag == etag(first.data)
    for _ in range(5):
        assert bodies.get("tt", feed.build) is first
    assert (feed.builds, feed.looks) == (1, 6)
    feed.generation = 1  # a window written
    second = bodies.get("tt", feed.build)
    assert second.data == b'{"generation": 1}' and second.tag != first.tag and feed.builds == 2
    assert bodies.get("other", feed.build) is not second and feed.builds == 3  # its own query


def test_within_fresh_s_etcd_is_not_asked_and_old_bodies_are_built_again() -> None:
    feed = Feed()
    kept = FeedBodies(feed.look, fresh_s=3600, max_age_s=3600)
    kept.get("tt", feed.build)
    feed.generation = 1
    assert kept.get("tt", feed.build).data == b'{"generation": 0}'  # at most FRESH_S behind
    assert (feed.builds, feed.looks) == (1, 1)
    aged = FeedBodies(feed.look, fresh_s=0.0, max_age_s=0.0)  # nothing changes, time passes
    aged.get("health", feed.build)
    aged.get("health", feed.build)
    assert feed.builds == 3


def test_a_failed_build_keeps_nothing_and_others_get_the_last_body_while_one_builds() -> None:
    feed = Feed()
    bodies = FeedBodies(feed.look, fresh_s=0.0, max_age_s=3600)

    def broken() -> bytes:
        raise RuntimeError("etcd unavailable")
    try:
        bodies.get("tt", broken)
    except RuntimeError:
        pass
    first = bodies.get("tt", feed.build)  # the failure left no body and no build marked
    assert first.data == b'{"generation": 0}'
    feed.generation = 1
    building, release = threading.Event(), threading.Event()

    def slow() -> bytes:
        building.set()
        release.wait(10)
        return feed.build()
    worker = threading.Thread(target=bodies.get, args=("tt", slow))
    worker.start()
    assert building.wait(10)
    assert bodies.get("tt", feed.build) is first  # served meanwhile, not built twice
    release.set()
    worker.join()
    assert bodies.get("tt", feed.build).data == b'{"generation": 1}' and feed.builds == 2
