"""PassBuilder: gap, maximum length, timestamp choice, raw mode, deterministic ULIDs."""

from __future__ import annotations

from ulid import ULID

from roadside.agent.model import AddressKind, Pass, RadioKind, TimestampChoice
from roadside.agent.passes import PassBuilder, pass_ulid

S = 1_000_000_000
T0 = 1_700_000_000 * S
DEV = "0a3b43c7660efb0c6733552e26a68ff1"
OTHER = "ffeeddccbbaa99887766554433221100"
WIFI, GLOBAL = RadioKind.WIFI, AddressKind.WIFI_GLOBAL


def feed(builder: PassBuilder, device: str, times_rssi: list[tuple[float, int]]) -> list[Pass]:
    out: list[Pass] = []
    for t, rssi in times_rssi:
        out += builder.add(device, T0 + int(t * S), rssi, WIFI, GLOBAL)
    return out


def test_pass_closes_after_gap_by_event_time() -> None:
    b = PassBuilder("det-a", pass_gap_s=30, max_pass_s=600)
    assert feed(b, DEV, [(0, -80), (10, -60), (25, -70)]) == []
    assert b.tick(T0 + 55 * S) == []  # 30 s after the last sighting: not yet
    [p] = b.tick(T0 + 56 * S)
    assert (p.first_ns, p.last_ns, p.peak_ns) == (T0, T0 + 25 * S, T0 + 10 * S)
    assert (p.peak_rssi, p.count, p.device_id) == (-60, 3, DEV)
    assert p.timestamp_ns == p.peak_ns  # default: peak
    assert len(b) == 0


def test_sighting_after_gap_starts_a_new_pass() -> None:
    b = PassBuilder("det-a", pass_gap_s=30)
    closed = feed(b, DEV, [(0, -80), (5, -75), (40, -70)])
    assert [(p.first_ns, p.count) for p in closed] == [(T0, 2)]
    [second] = b.flush()
    assert (second.first_ns, second.count) == (T0 + 40 * S, 1)
    assert pass_ulid("det-a", DEV, second.first_ns) != pass_ulid("det-a", DEV, closed[0].first_ns)


def test_max_length_splits_a_long_visit() -> None:
    b = PassBuilder("det-a", pass_gap_s=30, max_pass_s=60)
    closed = feed(b, DEV, [(t, -70) for t in range(0, 130, 10)])  # parked car, 2 min
    closed += b.flush()
    assert [(p.first_ns - T0) // S for p in closed] == [0, 70]
    assert all(p.last_ns - p.first_ns <= 60 * S for p in closed)
    assert sum(p.count for p in closed) == 13


def test_timestamp_choice() -> None:
    sightings = [(0, -80), (7, -50), (12, -90)]
    got = {}
    for choice in TimestampChoice:
        b = PassBuilder("det-a", timestamp=choice)
        feed(b, DEV, sightings)
        [p] = b.flush()
        got[choice] = (p.timestamp_ns - T0) // S
    assert got == {TimestampChoice.FIRST: 0, TimestampChoice.PEAK: 7, TimestampChoice.LAST: 12}


def test_devices_are_independent_and_tag_sticks() -> None:
    b = PassBuilder("det-a")
    b.add(DEV, T0, -70, WIFI, GLOBAL)
    b.add(OTHER, T0 + S, -60, WIFI, AddressKind.WIFI_LOCAL, tagged=True)
    b.add(OTHER, T0 + 2 * S, -65, WIFI, AddressKind.WIFI_LOCAL, tagged=False)
    passes = {p.device_id: p for p in b.flush()}
    assert passes[DEV].count == 1 and not passes[DEV].tagged
    assert passes[OTHER].count == 2 and passes[OTHER].tagged
    assert passes[OTHER].address_kind is AddressKind.WIFI_LOCAL


def test_missing_and_out_of_range_rssi() -> None:
    b = PassBuilder("det-a")
    b.add(DEV, T0, None, WIFI, GLOBAL)
    b.add(DEV, T0 + S, None, WIFI, GLOBAL)
    b.add(OTHER, T0, 45, WIFI, GLOBAL)  # a broken radio's +45 dBm
    passes = {p.device_id: p for p in b.flush()}
    assert passes[DEV].peak_ns == T0 and passes[DEV].peak_rssi == 0
    assert passes[OTHER].peak_rssi == 20


def test_raw_mode_one_per_device_per_second() -> None:
    b = PassBuilder("det-a", raw_mode=True)
    out = feed(b, DEV, [(0.1, -70), (0.5, -60), (0.9, -50), (1.2, -65), (3.0, -66)])
    out += feed(b, OTHER, [(0.2, -80)])
    assert [(p.device_id, (p.first_ns - T0) // (S // 10)) for p in out] == [
        (DEV, 1), (DEV, 12), (DEV, 30), (OTHER, 2)
    ]
    assert all(p.count == 1 and p.first_ns == p.last_ns == p.timestamp_ns for p in out)
    assert b.flush() == []


def test_ulid_is_deterministic_and_carries_first_seen() -> None:
    a = pass_ulid("det-a", DEV, T0 + 123_456_789)
    assert a == pass_ulid("det-a", DEV, T0 + 123_456_789)
    assert a != pass_ulid("det-b", DEV, T0 + 123_456_789)
    assert a != pass_ulid("det-a", OTHER, T0 + 123_456_789)
    assert ULID.from_str(a).milliseconds == (T0 + 123_456_789) // 1_000_000


def test_replaying_the_same_sightings_gives_the_same_passes() -> None:
    runs = []
    for _ in range(2):
        b = PassBuilder("det-a", pass_gap_s=5)
        out = feed(b, DEV, [(0, -70), (1, -60), (20, -65)]) + feed(b, OTHER, [(3, -50)])
        runs.append(out + b.flush())
    assert runs[0] == runs[1] and len(runs[0]) == 3


def test_ulid_encoding_matches_python_ulid() -> None:
    import os

    from roadside.agent.passes import new_ulid
    from roadside.common.ulidtext import ulid_text

    for data in [bytes(16), b"\xff" * 16, *(os.urandom(16) for _ in range(500))]:
        assert ulid_text(data) == str(ULID.from_bytes(data))
    made = ULID.from_str(new_ulid(T0))
    assert made.milliseconds == T0 // 1_000_000
