"""Keyed hashing of MACs, the site secret file, and the per-address-kind policy.

device_id = HMAC-SHA256(K_epoch, mac) truncated to 128 bits, hex, where
K_epoch = HKDF-SHA256(site_secret, info="roadside device-id v1 " + epoch label).
Every detector of a site shares the secret, so a device gets the same id at every
detector within one epoch and a new id in the next. The raw MAC goes in and is not kept.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.model import AddressKind
from roadside.common.files import write_atomic
from roadside.common.ids import DEVICE_ID_BYTES

INFO_PREFIX = b"roadside device-id v1 "
MIN_SECRET_BYTES = 16
SECRET_BYTES = 32  # random bytes in a generated secret (written as hex)
KEY_CACHE_SIZE = 4  # epoch keys kept; sightings straddle at most two epochs


class PrivacyError(AgentError):
    """The site secret or the privacy settings are unusable."""


class DeviceHasher:
    """Turns a raw MAC into the site-wide device id of the epoch it was heard in."""

    def __init__(
        self,
        site_secret: bytes,
        epoch_hours: float = 24.0,
        boundary_hour: float = 3.0,
        utc_offset_hours: float = 0.0,
    ) -> None:
        if len(site_secret) < MIN_SECRET_BYTES:
            raise PrivacyError(f"site secret too short: at least {MIN_SECRET_BYTES} bytes")
        if epoch_hours <= 0:
            raise PrivacyError(f"epoch_hours must be positive, got {epoch_hours}")
        self._secret = site_secret
        self._epoch_ns = int(epoch_hours * 3600 * 1e9)
        self._epoch_hours = epoch_hours
        # epochs start at boundary_hour on the local clock (UTC + offset)
        self._shift_ns = int((utc_offset_hours - boundary_hour) * 3600 * 1e9)
        self._offset = timedelta(hours=utc_offset_hours)
        self._keys: dict[int, bytes] = {}

    @classmethod
    def from_config(cls, config: AgentConfig, site_secret: bytes) -> DeviceHasher:
        return cls(
            site_secret,
            config.epoch_hours,
            config.epoch_boundary_hour,
            config.epoch_utc_offset_hours,
        )

    def epoch(self, t_ns: int) -> int:
        """The number of the epoch that contains unix time `t_ns`."""
        return (t_ns + self._shift_ns) // self._epoch_ns

    def epoch_label(self, epoch: int) -> str:
        """The epoch's start on the local clock and its length, e.g. 2026-11-27T03:00/24h."""
        start_ns = epoch * self._epoch_ns - self._shift_ns
        start = datetime.fromtimestamp(start_ns / 1e9, UTC) + self._offset
        return f"{start:%Y-%m-%dT%H:%M}/{self._epoch_hours:g}h"

    def epoch_key(self, epoch: int) -> bytes:
        key = self._keys.get(epoch)
        if key is None:
            info = INFO_PREFIX + self.epoch_label(epoch).encode()
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
            key = hkdf.derive(self._secret)
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.pop(min(self._keys))
            self._keys[epoch] = key
        return key

    def device_id(self, mac: bytes, t_ns: int) -> str:
        """32 lowercase hex characters; the same MAC maps to the same id within an epoch."""
        key = self.epoch_key(self.epoch(t_ns))
        return hmac.digest(key, mac, "sha256")[:DEVICE_ID_BYTES].hex()


# --- the site secret file ------------------------------------------------------------


def load_secret(path: str | Path) -> bytes:
    """Read the site secret; refuse a file that group or others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PrivacyError(
            f"site secret {path} does not exist; create it with `roadside agent init`"
        ) from None
    except OSError as exc:
        raise PrivacyError(f"site secret {path}: cannot read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PrivacyError(
            f"site secret {path} is accessible by group/others (mode {stat.S_IMODE(mode):04o});"
            f" fix: chmod 600 {path}"
        )
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise PrivacyError(f"site secret {path}: cannot read: {exc.strerror}") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise PrivacyError(
            f"site secret {path} is too short ({len(secret)} bytes, need {MIN_SECRET_BYTES})"
        )
    return secret


def generate_secret(path: str | Path, overwrite: bool = False) -> bytes:
    """Write a new random secret (hex text) with mode 0600, atomically; return it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise PrivacyError(f"site secret {path} already exists; not overwriting it")
    secret = secrets.token_hex(SECRET_BYTES).encode()
    try:
        write_atomic(path, secret + b"\n", 0o600)
    except OSError as exc:
        raise PrivacyError(f"site secret {path}: cannot write: {exc.strerror}") from exc
    return secret


# --- address kinds -----------------------------------------------------------------


def wifi_address_kind(mac: bytes) -> AddressKind:
    """Locally administered (bit 1 of the first octet set) means randomized."""
    if len(mac) != 6:
        return AddressKind.UNKNOWN
    return AddressKind.WIFI_LOCAL if mac[0] & 0x02 else AddressKind.WIFI_GLOBAL


def ble_address_kind(mac: bytes, random: bool) -> AddressKind:
    """BLE address kind from TxAdd (`random`) and the two top bits of the address.

    `mac` is in display order (most significant octet first, as in AA:BB:...).
    """
    if len(mac) != 6:
        return AddressKind.UNKNOWN
    if not random:
        return AddressKind.BLE_PUBLIC
    top = mac[0] >> 6
    if top == 0b11:
        return AddressKind.BLE_RANDOM_STATIC
    if top == 0b01:
        return AddressKind.BLE_RESOLVABLE
    if top == 0b00:
        return AddressKind.BLE_NON_RESOLVABLE
    return AddressKind.UNKNOWN  # 0b10 is reserved


def parse_mac(text: str) -> bytes:
    """'AA:BB:CC:DD:EE:FF' (or with dashes, or bare hex) -> 6 bytes."""
    digits = text.replace(":", "").replace("-", "").strip()
    try:
        mac = bytes.fromhex(digits)
    except ValueError:
        raise PrivacyError("not a MAC address") from None  # never echo the input
    if len(mac) != 6:
        raise PrivacyError("not a MAC address")
    return mac


# --- keep / tag / drop -------------------------------------------------------------


class Action(enum.Enum):
    KEEP = "keep"
    TAG = "tag"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """What to do with each address kind: keep, tag (kept, marked) or drop."""

    actions: tuple[tuple[AddressKind, Action], ...]

    def as_dict(self) -> dict[AddressKind, Action]:
        """For the hot path: one dict lookup per sighting."""
        return {k: self.action(k) for k in AddressKind}

    @classmethod
    def from_config(cls, config: AgentConfig) -> PrivacyPolicy:
        pairs = []
        for kind in AddressKind:
            name = "policy_" + kind.value
            raw = getattr(config, name)
            try:
                pairs.append((kind, Action(str(raw).lower())))
            except ValueError:
                raise PrivacyError(
                    f"{name}: expected keep, tag or drop, got {raw!r}"
                ) from None
        return cls(tuple(pairs))

    def action(self, kind: AddressKind) -> Action:
        for k, a in self.actions:
            if k is kind:
                return a
        return Action.TAG
