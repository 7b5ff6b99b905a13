"""Late-data markers on real etcd, and the hashing epoch seen end to end."""

from __future__ import annotations

from roadside.agent.privacy import DeviceHasher
from roadside.central.store import keys
from roadside.central.traveltime import dirty, engine, stats, store
from tests.fixtures.traveltime import DAY_AGO_S, Road, S

W = 300


def marker(road: Road, detector: str, bucket: int) -> tuple[bytes, int]:
    key = keys.dirty_key(road.namespace, detector, bucket)
    _value, meta = road.client.get(key)
    assert meta is not None, "ingest wrote no dirty marker"
    return key.encode(), int(meta.mod_revision)


def test_fan_out_moves_a_marker_to_each_destination_it_affects(road: Road) -> None:
    road.link("a", "b")
    road.link("a", "c")
    road.link("x", "y")
    t = (DAY_AGO_S + 50) * S
    road.passes("a", [("11" * 16, t)])
    key, rev = marker(road, "a", keys.bucket_of(t))
    targets = store.all_targets(road.client, road.namespace, 1800)
    assert dirty.fan_out(road.client, road.namespace, targets, key, rev)
    pending = sorted(m.key.decode() for _v, m in
                     road.client.get_prefix(keys.pending_prefix(road.namespace)))
    bucket = keys.bucket_of(t)
    assert pending == [keys.pending_key(road.namespace, d, "a", bucket) for d in ("b", "c")]
    assert road.client.get(key)[0] is None


def test_a_marker_rewritten_meanwhile_is_not_lost(road: Road) -> None:
    road.link("a", "b")
    t = (DAY_AGO_S + 50) * S
    road.passes("a", [("11" * 16, t)])
    key, old_rev = marker(road, "a", keys.bucket_of(t))
    road.passes("a", [("22" * 16, t + S)])  # another batch lands in the same bucket
    targets = store.all_targets(road.client, road.namespace, 1800)
    assert not dirty.fan_out(road.client, road.namespace, targets, key, old_rev)
    assert road.client.get(key)[0] is not None, "the newer marker was deleted"
    _key, new_rev = marker(road, "a", keys.bucket_of(t))
    assert not dirty.clear(road.client, key, old_rev)
    assert dirty.clear(road.client, key, new_rev)
    assert road.client.get(key)[0] is None


def test_a_window_changed_by_a_bucket_includes_trips_that_start_there(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    [target] = store.all_targets(road.client, road.namespace, 1800)
    bucket = DAY_AGO_S + 3600
    at_dest = dirty.affected_windows(target, "b", bucket, W)
    at_src = dirty.affected_windows(target, "a", bucket, W)
    assert at_dest == [bucket]  # passes at dest change only their own window
    assert at_src[0] == bucket and at_src[-1] >= bucket + 600  # and trips from src
    assert dirty.affected_windows(target, "z", bucket, W) == []


def test_the_same_phone_across_an_epoch_boundary_is_not_matched(road: Road) -> None:
    road.link("a", "b", max_seconds=600)
    hasher = DeviceHasher(b"epoch-test-site-secret-0123456789", epoch_hours=24,
                          boundary_hour=3.0)
    mac = bytes.fromhex("a4c3f0112233")
    boundary = DAY_AGO_S + 3 * 3600  # 03:00 UTC yesterday
    road.passes("a", [(hasher.device_id(mac, (boundary - 60) * S), (boundary - 60) * S)])
    road.passes("b", [(hasher.device_id(mac, (boundary + 60) * S), (boundary + 60) * S)])
    # and the same trip an hour later, inside one epoch, is matched
    road.passes("a", [(hasher.device_id(mac, (boundary + 3600) * S), (boundary + 3600) * S)])
    road.passes("b", [(hasher.device_id(mac, (boundary + 3720) * S), (boundary + 3720) * S)])
    [target] = store.all_targets(road.client, road.namespace, 1800)
    first = boundary // W * W
    across, inside = engine.compute_windows(
        road.client, road.namespace, target, [first, first + 3600], W, stats.Rules(k=1)
    )
    assert across.count == 0 and across.unmatched == 1
    assert inside.count == 1 and inside.samples_s == (120.0,)
