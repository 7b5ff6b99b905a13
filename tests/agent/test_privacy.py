"""Keyed hashing, epochs, the secret file, address kinds and the keep/tag/drop policy."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest

from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind
from roadside.agent.privacy import (
    Action,
    DeviceHasher,
    PrivacyError,
    PrivacyPolicy,
    _keyed,
    _pads,
    ble_address_kind,
    generate_secret,
    load_secret,
    parse_mac,
    wifi_address_kind,
)

SECRET = b"roadside-test-secret-0123456789"
MAC = bytes.fromhex("a4c3f0112233")
HOUR = 3600 * 10**9
T0 = 1_700_000_000 * 10**9  # 2023-11-14 22:13:20 UTC


def rfc5869_hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF written out from RFC 5869 (salt absent = zeros), independent of cryptography."""
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def test_known_vector() -> None:
    """v2: a one-way ratchet from the origin epoch (the one holding 2020-01-01T00:00Z)."""
    hasher = DeviceHasher(SECRET, epoch_hours=24, boundary_hour=3, utc_offset_hours=0)
    key = rfc5869_hkdf_sha256(SECRET, b"roadside device-id v2 origin 2019-12-31T03:00/24h")
    # T0 is 22:13 UTC on 2023-11-14, so its epoch began at 03:00 that day
    steps = (datetime.date(2023, 11, 14) - datetime.date(2019, 12, 31)).days
    for _ in range(steps):
        key = hmac.new(key, b"roadside device-id v2 ratchet", hashlib.sha256).digest()
    expected = hmac.new(key, MAC, hashlib.sha256).hexdigest()[:32]
    assert hasher.device_id(MAC, T0) == expected
    assert expected == "4793a7e5365ceedeac39886a6e65d165"  # frozen: ids must not drift


def test_hot_path_hmac_equals_the_standard_library_for_any_key_and_mac() -> None:
    """The per-sighting hash keeps the key's pads hashed (RFC 2104 by hand, for speed): it
    must give hmac's HMAC-SHA256 for keys shorter, equal to and longer than a block."""
    for key_len in (0, 1, 31, 32, 63, 64, 65, 200):
        key = os.urandom(key_len)
        pads = _pads(key)
        for mac in (MAC, os.urandom(6), b"", os.urandom(100)):
            assert _keyed(pads, mac) == hmac.digest(key, mac, "sha256")[:16].hex()


def test_same_mac_same_id_within_epoch_and_across_detectors() -> None:
    box_a = DeviceHasher(SECRET, 24, 3, 0)
    box_b = DeviceHasher(SECRET, 24, 3, 0)  # another detector of the same site
    first = box_a.device_id(MAC, T0)
    assert box_a.device_id(MAC, T0 + 4 * HOUR) == first  # 02:13 next day: same epoch
    assert box_b.device_id(MAC, T0 + HOUR) == first
    assert len(first) == 32 and int(first, 16) >= 0


def test_other_site_and_other_mac_differ() -> None:
    assert DeviceHasher(b"another-site-secret-987654", 24, 3, 0).device_id(MAC, T0) != \
        DeviceHasher(SECRET, 24, 3, 0).device_id(MAC, T0)
    h = DeviceHasher(SECRET, 24, 3, 0)
    assert h.device_id(bytes.fromhex("a4c3f0112234"), T0) != h.device_id(MAC, T0)


def test_new_id_next_epoch_at_configured_boundary() -> None:
    h = DeviceHasher(SECRET, 24, 3, 0)
    boundary = T0 + 4 * HOUR + (46 * 60 + 40) * 10**9  # 03:00:00 UTC next day
    assert h.device_id(MAC, boundary - 1) == h.device_id(MAC, T0)
    assert h.device_id(MAC, boundary) != h.device_id(MAC, T0)


def test_boundary_and_offset_move_the_epoch_start() -> None:
    # boundary 23:00 local at UTC+2 = 21:00 UTC: T0 (22:13 UTC) is in a fresh epoch
    h = DeviceHasher(SECRET, 24, 23, 2)
    assert h.epoch_label(h.epoch(T0)) == "2023-11-14T23:00/24h"
    assert h.device_id(MAC, T0) != h.device_id(MAC, T0 - 2 * HOUR)
    short = DeviceHasher(SECRET, 6, 0, 0)  # four epochs a day
    assert short.epoch_label(short.epoch(T0)) == "2023-11-14T18:00/6h"


def test_short_secret_refused() -> None:
    with pytest.raises(PrivacyError, match="too short"):
        DeviceHasher(b"short", 24, 3, 0)


def test_generate_and_load_secret(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "site.secret"
    secret = generate_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == secret
    assert len(secret) == 64
    with pytest.raises(PrivacyError, match="already exists"):
        generate_secret(path)
    assert [p.name for p in path.parent.iterdir()] == ["site.secret"]  # no temp file left


def test_load_secret_refuses_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "site.secret"
    generate_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(PrivacyError) as err:
        load_secret(path)
    assert str(path) in str(err.value) and f"chmod 600 {path}" in str(err.value)


def test_load_secret_missing(tmp_path: Path) -> None:
    with pytest.raises(PrivacyError, match="does not exist"):
        load_secret(tmp_path / "nope")


def test_wifi_address_kind() -> None:
    assert wifi_address_kind(bytes.fromhex("a4c3f0112233")) is AddressKind.WIFI_GLOBAL
    assert wifi_address_kind(bytes.fromhex("da a1 19 00 00 01")) is AddressKind.WIFI_LOCAL
    assert wifi_address_kind(b"\x02") is AddressKind.UNKNOWN


def test_ble_address_kind() -> None:
    assert ble_address_kind(bytes.fromhex("001a7dda7113"), random=False) is AddressKind.BLE_PUBLIC
    assert ble_address_kind(bytes.fromhex("c01a7dda7113"), True) is AddressKind.BLE_RANDOM_STATIC
    assert ble_address_kind(bytes.fromhex("401a7dda7113"), True) is AddressKind.BLE_RESOLVABLE
    assert ble_address_kind(bytes.fromhex("001a7dda7113"), True) is AddressKind.BLE_NON_RESOLVABLE
    assert ble_address_kind(bytes.fromhex("801a7dda7113"), True) is AddressKind.UNKNOWN


def test_parse_mac_spellings() -> None:
    for text in ("A4:C3:F0:11:22:33", "a4-c3-f0-11-22-33", "a4c3f0112233"):
        assert parse_mac(text) == MAC
    with pytest.raises(PrivacyError) as err:
        parse_mac("a4:c3:f0:11:22")
    assert "a4" not in str(err.value)  # the error never echoes address material


def test_policy_from_config() -> None:
    policy = PrivacyPolicy.from_config(AgentConfig())
    assert policy.action(AddressKind.WIFI_GLOBAL) is Action.KEEP
    assert policy.action(AddressKind.WIFI_LOCAL) is Action.TAG
    assert policy.action(AddressKind.BLE_NON_RESOLVABLE) is Action.DROP
    custom = PrivacyPolicy.from_config(dataclasses.replace(AgentConfig(), policy_wifi_local="drop"))
    assert custom.action(AddressKind.WIFI_LOCAL) is Action.DROP


def test_policy_bad_value_names_the_field() -> None:
    config = dataclasses.replace(AgentConfig(), policy_ble_public="maybe")
    with pytest.raises(PrivacyError, match="policy_ble_public: expected keep, tag or drop"):
        PrivacyPolicy.from_config(config)
