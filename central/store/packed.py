"""Packed detections: the passes of one upload batch for one detector and bucket in one key.

    /{ns}/detectors/{detector_id}/{bucket}/~{block_id}    PassBlock (proto/v1/stored.proto)

The bucket stays in the key, so a time range is still a key range; '~' sorts after every
ULID, so a bucket's blocks follow the per-pass keys of the earlier layout
(`{ulid}.{device_id}`, JSON), which are still read. Readers see passes, never blocks: each
pass keeps the key it had in the earlier layout (`pass_key`) as its identity, so ordering,
page tokens and deduplication work on either layout. The block id is a digest of the pass
ids it holds: the same batch stored twice rewrites the same key, and a pass stored in two
differently grouped batches (an agent restarted between them) is in two blocks, and is
counted once by every reader (each drops the repeats of a pass key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from roadside.central.store import keys
from roadside.central.store.records import Detection, StoredPass
from roadside.common.kinds import CLASS_TO_PB
from roadside.common.ulidtext import ulid_text
from roadside.proto.v1 import stored_pb2

VERSION = 1
# what decode raises for a key or value it cannot read (readers skip it with a warning)
UNREADABLE = (ValueError, KeyError, TypeError, IndexError)
BLOCK_MARK = "~"  # a block's last key segment starts with it
BLOCK_ID_HEX = 20  # 80 bits of the digest: block ids of one bucket never collide in practice
_HEX32 = re.compile(r"[0-9a-f]{32}").fullmatch
_TO_BASE32 = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ",
                           "0123456789abcdefghijklmnopqrstuv")  # Crockford -> int(x, 32)


class BlockError(ValueError):
    """A stored value that is not a PassBlock this code can read."""


# device classes by their roadside.v1.DeviceClass number (0, unknown, is not stored)
CLASS_TEXT = {pb: c.value for c, pb in CLASS_TO_PB.items() if c.value}
CLASS_NUMBER = {text: pb for pb, text in CLASS_TEXT.items()}

def is_block_key(key: str) -> bool:
    return key[key.rindex("/") + 1:].startswith(BLOCK_MARK)


def block_key(detector_prefix: str, bucket: int, block_id: str) -> str:
    return f"{detector_prefix}{bucket}/{BLOCK_MARK}{block_id}"


def block_id(detections: Iterable[Detection]) -> str:
    digest = hashlib.sha256()
    for d in detections:
        digest.update(f"{d[2]}.{d[3]}\n".encode())
    return digest.hexdigest()[:BLOCK_ID_HEX]


def _ulid_bytes(ulid: str) -> bytes:
    return int(ulid.translate(_TO_BASE32), 32).to_bytes(16, "big")


def _device_bytes(device: str) -> tuple[bytes, bool]:
    """A device id as stored: (bytes, whether they are the id's text)."""
    return (bytes.fromhex(device), False) if _HEX32(device) else (device.encode(), True)


def pass_id(ulid: str, device: str) -> bytes:
    """A pass's identity as device_times gives it, for a pass of the per-pass layout."""
    return _ulid_bytes(ulid) + _device_bytes(device)[0]


def encode_block(bucket: int, detections: Sequence[Detection]) -> bytes:
    """One PassBlock of detections that share a detector and `bucket` (unix s)."""
    bucket_ns = bucket * keys.NS_PER_S
    block = stored_pb2.PassBlock(version=VERSION, bucket_ns=bucket_ns)
    radios: dict[str, int] = {}
    kinds: dict[str, int] = {}
    add = block.passes.add
    for (_det, t, ulid, device, first, last, peak, rssi, count, radio, kind, tagged,
         alias, device_class) in detections:
        p = add()
        whole = _ulid_bytes(ulid)
        # a pass's ULID time is its first sighting's ms: then only its 10 random bytes
        p.ulid = whole[6:] if whole[:6] == (first // 1_000_000).to_bytes(6, "big") else whole
        p.device, p.device_text = _device_bytes(device)
        p.timestamp_offset_ns = t - bucket_ns
        p.first_before_ns = t - first
        p.last_after_ns = last - t
        p.peak_offset_ns = peak - t
        p.peak_rssi, p.count = rssi, count
        p.radio = radios.setdefault(radio, len(radios))
        p.address_kind = kinds.setdefault(kind, len(kinds))
        p.tagged, p.alias = tagged, alias
        p.device_class = CLASS_NUMBER.get(device_class, 0)
    block.radios.extend(radios)
    block.address_kinds.extend(kinds)
    return block.SerializeToString()


def _parse(value: bytes) -> stored_pb2.PassBlock:
    try:
        block = stored_pb2.PassBlock.FromString(value)
    except DecodeError as exc:
        raise BlockError(f"not a pass block ({exc})") from exc
    if block.version != VERSION:
        raise BlockError(f"pass block version {block.version}, this central reads {VERSION}")
    return block


# (timestamp ns, pass key, make, make's arguments): a pass a reader sorts, and builds only
# when it hands it out (built(item))
Item = tuple[int, str, Callable[..., Any], tuple[Any, ...]]
# builds a reader's pass from a packed one: (detector id, timestamp ns, ULID text, device id,
# the PackedPass, its radio text, its address kind text)
MakePass = Callable[[str, int, str, str, stored_pb2.PackedPass, str, str], Any]


def stored_pass(detector_id: str, t: int, ulid: str, device: str, p: stored_pb2.PackedPass,
                radio: str, kind: str) -> StoredPass:
    """A MakePass: the StoredPass record."""
    return StoredPass(
        detector_id=detector_id, ulid=ulid, device_id=device,
        timestamp_ns=t, first_ns=t - p.first_before_ns, last_ns=t + p.last_after_ns,
        peak_ns=t + p.peak_offset_ns, peak_rssi=p.peak_rssi, count=p.count,
        radio=radio, address_kind=kind, tagged=p.tagged, alias=p.alias,
        device_class=CLASS_TEXT.get(p.device_class, ""),
    )


def block_items(detector_id: str, key: str, value: bytes, since_ns: int = 0,
                until_ns: int = 0, make: MakePass = stored_pass) -> list[Item]:
    """The Items of the block's passes in [since, until) (until 0: no bound), in the
    block's order, made with `make`; nothing is decoded for a pass outside the range."""
    block = _parse(value)
    prefix = key[:key.rindex("/") + 1]  # the bucket's: every pass key of the block has it
    radios, kinds, base = list(block.radios), list(block.address_kinds), block.bucket_ns
    until = until_ns or 2**63
    out = []
    for p in block.passes:  # (_whole_ulid and _device_id inline: a step for every event)
        t = base + p.timestamp_offset_ns
        if t < since_ns or t >= until:
            continue
        short = p.ulid
        ulid = ulid_text(short if len(short) == 16 else
                         ((t - p.first_before_ns) // 1_000_000).to_bytes(6, "big") + short)
        device = p.device.decode() if p.device_text else p.device.hex()
        out.append((t, f"{prefix}{ulid}.{device}", make,
                    (detector_id, t, ulid, device, p, radios[p.radio], kinds[p.address_kind])))
    return out


def built(item: Item) -> Any:
    """The pass of an Item, as its `make` builds it."""
    return item[2](*item[3])


def decode_block(detector_id: str, value: bytes, from_ns: int = 0) -> list[StoredPass]:
    """The block's passes (those at or after `from_ns` only, when given)."""
    return [built(item) for item in block_items(detector_id, "/", value, from_ns)]


def device_times(value: bytes) -> list[tuple[bytes, str, int, bool, str, str]]:
    """(pass id, device id, timestamp ns, alias, device class, address kind) of a block's
    passes, without building StoredPass objects (the travel-time workers' read path)."""
    block = _parse(value)
    kinds = list(block.address_kinds)
    out = []
    for p in block.passes:
        t = block.bucket_ns + p.timestamp_offset_ns
        out.append((_whole_ulid(p, t) + p.device, _device_id(p), t, p.alias,
                    CLASS_TEXT.get(p.device_class, ""), kinds[p.address_kind]))
    return out


def _device_id(p: stored_pb2.PackedPass) -> str:
    return p.device.decode() if p.device_text else p.device.hex()


def _whole_ulid(p: stored_pb2.PackedPass, t: int) -> bytes:
    """The ULID's 16 bytes (10 stored when its time was the first sighting's ms)."""
    if len(p.ulid) == 16:
        return bytes(p.ulid)
    return ((t - p.first_before_ns) // 1_000_000).to_bytes(6, "big") + p.ulid


def items(ns: str, key: str, value: bytes, since_ns: int = 0, until_ns: int = 0,
          make: MakePass = stored_pass,
          from_record: Callable[[StoredPass], Any] = lambda p: p) -> list[Item]:
    """block_items of a detection key of either layout (a pass of the per-pass layout made
    with `from_record`); ValueError (or KeyError, IndexError) when it cannot be read."""
    if not is_block_key(key):
        p = StoredPass.from_kv(ns, key, value)
        if p.timestamp_ns < since_ns or (until_ns and p.timestamp_ns >= until_ns):
            return []
        return [(p.timestamp_ns, pass_key(ns, p), from_record, (p,))]
    prefix = keys.detections_prefix(ns)
    if not key.startswith(prefix):
        raise ValueError(f"not a detection key: {key!r}")
    return block_items(key[len(prefix):].split("/", 1)[0], key, value, since_ns, until_ns,
                       make)


def decode(ns: str, key: str | bytes, value: bytes, from_ns: int = 0) -> list[StoredPass]:
    """The passes under one detection key of either layout (a block's at or after
    `from_ns` only, when given); ValueError (or KeyError, IndexError) when the key or value
    cannot be read."""
    text = key.decode() if isinstance(key, bytes) else key
    return [built(item) for item in items(ns, text, value, from_ns)]


def pass_key(ns: str, p: StoredPass) -> str:
    """A pass's identity and sort key: its key in the per-pass layout."""
    return keys.detection_key(ns, p.detector_id, p.timestamp_ns, p.ulid, p.device_id)
