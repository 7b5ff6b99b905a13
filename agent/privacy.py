"""Keyed hashing of MACs with forward-secure epoch keys, the site secret, the address policy.

device_id = HMAC-SHA256(K_e, mac) truncated to 128 bits, hex, for the epoch e the sighting
falls in. The epoch keys are a one-way ratchet from the site secret (the seed):

    K_origin = HKDF-SHA256(seed, info="roadside device-id v2 origin " + origin epoch label)
    K_{e+1}  = HMAC-SHA256(K_e, "roadside device-id v2 ratchet")

with the origin the epoch holding 2020-01-01T00:00Z, on the same UTC boundaries at every
box: every detector of a site computes the same K_e, so a device gets the same id at every
detector within an epoch and a new id in the next; a box enrolled mid-epoch computes the
same key as its neighbours. A running box keeps only K_e (and K_{e-1} for OVERLAP_S after
the boundary, so a trip across it is still matched: see `ids`) and erases older keys
from memory and disk: from what a box stolen on day N holds, no earlier day's ids can be
recomputed (HMAC is one way). Tools that replay old captures hold the seed instead.
The raw MAC goes in and is not kept.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.model import AddressKind
from roadside.common.files import write_atomic
from roadside.common.ids import DEVICE_ID_BYTES

ORIGIN_INFO = b"roadside device-id v2 origin "
RATCHET_INFO = b"roadside device-id v2 ratchet"
ORIGIN_NS = 1_577_836_800 * 1_000_000_000  # 2020-01-01T00:00:00Z: epochs before it have no key
OVERLAP_S = 1800.0  # after a boundary, the previous epoch's key stays this long
OVERLAP_NS = int(OVERLAP_S * 1e9)
MIN_SECRET_BYTES = 16
SECRET_BYTES = 32  # random bytes in a generated secret (written as hex)
KEY_CACHE_SIZE = 4  # epoch keys kept with the seed; sightings straddle at most two epochs
KEYS_FILE = "epoch-keys.json"  # a box's key state in its state directory (0600)


class PrivacyError(AgentError):
    """The site secret or the privacy settings are unusable."""


class EpochKeyErased(PrivacyError):
    """A sighting from an epoch whose key this box no longer holds (by design)."""


def ratchet(key: bytes) -> bytes:
    return hmac.digest(key, RATCHET_INFO, "sha256")


class DeviceHasher:
    """Turns a raw MAC into the site-wide device id of the epoch it was heard in.

    With the seed (`site_secret`) any epoch from the origin on can be hashed (replays,
    the simulator); from a key state (`from_state`) only the current epoch, the previous
    one, and later ones (the ratchet moves forward; `on_advance` persists it).
    """

    def __init__(
        self,
        site_secret: bytes | None,
        epoch_hours: float = 24.0,
        boundary_hour: float = 3.0,
        utc_offset_hours: float = 0.0,
    ) -> None:
        if site_secret is not None and len(site_secret) < MIN_SECRET_BYTES:
            raise PrivacyError(f"site secret too short: at least {MIN_SECRET_BYTES} bytes")
        if epoch_hours <= 0:
            raise PrivacyError(f"epoch_hours must be positive, got {epoch_hours}")
        self._secret = site_secret
        self._epoch_ns = int(epoch_hours * 3600 * 1e9)
        self._epoch_hours = epoch_hours
        # epochs start at boundary_hour on the local clock (UTC + offset)
        self._shift_ns = int((utc_offset_hours - boundary_hour) * 3600 * 1e9)
        self._boundary_hour = boundary_hour
        self._utc_offset_hours = utc_offset_hours
        self._offset = timedelta(hours=utc_offset_hours)
        self._keys: dict[int, bytes] = {}
        # (from_ns, until_ns, HMAC context of that epoch's key): the hot path of ids() for
        # times past the current epoch's overlap; dropped whenever a key changes or goes
        self._hot: tuple[int, int, _Pads] | None = None
        self.on_advance: Callable[[DeviceHasher], None] | None = None  # a box persists here

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

    def epoch_start_ns(self, epoch: int) -> int:
        return epoch * self._epoch_ns - self._shift_ns

    def in_overlap(self, t_ns: int) -> bool:
        """Whether t_ns lies within OVERLAP_S after the start of its epoch."""
        return t_ns - self.epoch_start_ns(self.epoch(t_ns)) < OVERLAP_NS

    def epoch_label(self, epoch: int) -> str:
        """The epoch's start on the local clock and its length, e.g. 2026-11-27T03:00/24h."""
        start = datetime.fromtimestamp(self.epoch_start_ns(epoch) / 1e9, UTC) + self._offset
        return f"{start:%Y-%m-%dT%H:%M}/{self._epoch_hours:g}h"

    @property
    def origin(self) -> int:
        return self.epoch(ORIGIN_NS)

    def _from_seed(self, epoch: int) -> bytes:
        assert self._secret is not None
        if epoch < self.origin:
            raise EpochKeyErased(f"epoch {self.epoch_label(epoch)} is before the key origin")
        e = max((k for k in self._keys if k <= epoch), default=None)  # ratchet on from there
        if e is not None:
            key = self._keys[e]
        else:
            e = self.origin
            info = ORIGIN_INFO + self.epoch_label(e).encode()
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
                self._secret)
        while e < epoch:
            key, e = ratchet(key), e + 1
        return key

    def epoch_key(self, epoch: int) -> bytes:
        key = self._keys.get(epoch)
        if key is not None:
            return key
        if self._secret is not None:
            key = self._from_seed(epoch)
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.pop(min(self._keys))
                self._hot = None
            self._keys[epoch] = key
            return key
        newest = max(self._keys, default=None)
        if newest is None or epoch < newest:
            raise EpochKeyErased(f"no key for epoch {self.epoch_label(epoch)}: erased on this "
                                 "box (forward secrecy)")
        key, e, previous = self._keys[newest], newest, self._keys.get(epoch - 1)
        while e < epoch:  # forward: ratchet, keep the one before for the overlap, erase older
            if e == epoch - 1:
                previous = key
            key, e = ratchet(key), e + 1
        self._keys = {epoch: key} if previous is None else {epoch - 1: previous, epoch: key}
        self._hot = None
        if self.on_advance is not None:
            self.on_advance(self)
        return key

    def device_id(self, mac: bytes, t_ns: int) -> str:
        """32 lowercase hex characters; the same MAC maps to the same id within an epoch."""
        hot = self._hot
        if hot is not None and hot[0] <= t_ns < hot[1]:
            return _keyed(hot[2], mac)
        epoch = self.epoch(t_ns)
        key = self.epoch_key(epoch)
        start = self.epoch_start_ns(epoch)
        if t_ns - start < OVERLAP_NS:
            return _hashed(key, mac)
        pads = _pads(key)
        self._hot = (start + OVERLAP_NS, start + self._epoch_ns, pads)
        return _keyed(pads, mac)

    def ids(self, mac: bytes, t_ns: int) -> tuple[str, str | None]:
        """(device_id, alias): within OVERLAP_S after a boundary, the alias is the MAC's id
        under the previous epoch's key, so a device heard upstream just before the boundary
        is matched through it; else None."""
        hot = self._hot
        if hot is not None and hot[0] <= t_ns < hot[1]:  # (device_id's own hot path, inline:
            return _keyed(hot[2], mac), None  # the pipeline calls this for every sighting)
        device = self.device_id(mac, t_ns)
        if not self.in_overlap(t_ns):
            return device, None
        try:
            return device, _hashed(self.epoch_key(self.epoch(t_ns) - 1), mac)
        except EpochKeyErased:
            return device, None

    def forget_previous(self, now_ns: int) -> bool:
        """Erase the previous epoch's key once the overlap after the boundary is over (and
        persist that through `on_advance`); True when something was erased."""
        if self._secret is not None or self.in_overlap(now_ns):
            return False
        old = [e for e in self._keys if e < self.epoch(now_ns)]
        for e in old:
            del self._keys[e]
        if old:
            self._hot = None
        if old and self.on_advance is not None:
            self.on_advance(self)
        return bool(old)

    # --- a box's key state ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"version": 2, "keys": {str(e): k.hex() for e, k in sorted(self._keys.items())}}

    @classmethod
    def from_state(cls, state: dict[str, Any], config: AgentConfig) -> DeviceHasher:
        hasher = cls(None, config.epoch_hours, config.epoch_boundary_hour,
                     config.epoch_utc_offset_hours)
        try:
            hasher._keys = {int(e): bytes.fromhex(k) for e, k in state["keys"].items()}
        except (KeyError, ValueError, AttributeError) as exc:
            raise PrivacyError(f"epoch key state: unreadable ({exc})") from exc
        if not hasher._keys:
            raise PrivacyError("epoch key state: holds no key")
        return hasher

    def without_seed(self, now_ns: int) -> DeviceHasher:
        """A box's hasher: the current epoch's key (and the previous one while it
        overlaps), derived from the seed, which the new hasher does not keep."""
        epoch = self.epoch(now_ns)
        box = DeviceHasher(None, self._epoch_hours, self._boundary_hour, self._utc_offset_hours)
        box._keys = {epoch: self.epoch_key(epoch)}
        if self.in_overlap(now_ns):
            box._keys[epoch - 1] = self.epoch_key(epoch - 1)
        return box


def _hashed(key: bytes, mac: bytes) -> str:
    return hmac.digest(key, mac, "sha256")[:DEVICE_ID_BYTES].hex()


_Pads = tuple["hashlib._Hash", "hashlib._Hash"]
_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))  # translation tables: each key byte XOR the pad
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _pads(key: bytes) -> _Pads:
    """HMAC-SHA256's inner and outer hashes with the key's pads already hashed (RFC 2104),
    made once per epoch key: each device id then costs two copies and two short updates."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def _keyed(pads: _Pads, mac: bytes) -> str:
    """_hashed from the key's pads (the same value: tested against hmac.digest)."""
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(mac)
    outer.update(inner.digest())
    return outer.digest()[:DEVICE_ID_BYTES].hex()


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


def new_secret() -> bytes:
    """A new random site secret (hex text)."""
    return secrets.token_hex(SECRET_BYTES).encode()


def generate_secret(path: str | Path, overwrite: bool = False) -> bytes:
    """Write a new random secret (hex text) with mode 0600, atomically; return it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise PrivacyError(f"site secret {path} already exists; not overwriting it")
    secret = new_secret()
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
