"""The etcd key layout, in one place. See README "etcd key layout".

Detections and links keep the original system's layout:

    /{ns}/detectors/{detector_id}/{bucket}/~{block_id}           passes (packed.py)
    /{ns}/detectors/{detector_id}/{bucket}/{ulid}.{device_id}   a pass (JSON; earlier layout)
    /{ns}/links/{dest_detector_id}/{src_detector_id}            {"max_seconds": "600", ...}

The rest is roadside's own:

    /{ns}/registry/{detector_id}                    detector: name, coordinates, radios
    /{ns}/status/{detector_id}/latest               the newest agent status report
    /{ns}/status/{detector_id}/history/{ulid}       every report (leased: retention)
    /{ns}/routes/{route}                            a named sequence of detectors
    /{ns}/dirty/{detector_id}/{bucket}              ingest touched this bucket: recompute
    /{ns}/traveltimes/link/{src}/{dest}/h{hour_start_s}   a link's windows of an hour
    /{ns}/traveltimes/route/{route}/h{hour_start_s}       a route's windows of an hour
    /{ns}/traveltimes/link/{src}/{dest}/{window_start_s}  one window (JSON; earlier layout)
    /{ns}/locks/traveltime/{dest_detector_id}        worker lock per destination
    /{ns}/workers/traveltime/{worker_id}             a live travel-time worker (leased)
    /{ns}/pending/{dest}/{detector_id}/{bucket}      a dirty bucket, fanned out per destination
    /{ns}/shards/{detector_id}                       the detection shard of its passes
    /{ns}/clocks/{detector_id}                       its clock offset estimate
    /{ns}/compacted/{detector_id}                    the next bucket the compactor looks at
    /{ns}/rules/link/{src}/{dest}, /{ns}/rules/route/{route}   the rules its windows hold
    /{ns}/archive/windows                            the archive's directory; etcd's windows
                                                     start at its etcd_from_ns
    /{ns}/live/link/{src}/{dest}, /{ns}/live/route/{route}     its live figure (leased)

With detection shards (shards.py) a detector's passes are on its shard, under the same keys;
everything else is in the control etcd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roadside.common.ids import DETECTOR_ID_RE as DETECTOR_ID_RE  # re-exported
from roadside.common.ids import DEVICE_ID_RE as DEVICE_ID_RE
from roadside.common.ids import valid_detector_id as valid_detector_id

BUCKET_S = 100  # a detection's bucket: unix second rounded down to a multiple of 100
NS_PER_S = 1_000_000_000

# the id rules live in roadside.common.ids: the agent checks ids too
NAMESPACE_RE = DETECTOR_ID_RE
ROUTE_NAME_RE = DETECTOR_ID_RE
ULID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
# Device ids sent through the original API: no '/' or '.', bounded length.
LEGACY_DEVICE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def bucket_of(t_ns: int) -> int:
    """The bucket (unix second, multiple of 100) a time in ns falls in."""
    seconds = t_ns // NS_PER_S
    return seconds - seconds % BUCKET_S


def _p(ns: str, *parts: object) -> str:
    return "/" + "/".join([ns, *(str(p) for p in parts)])


def _all_or_one(ns: str, kind: str, detector_id: str | None) -> str:
    """The prefix of every `kind` key, or of one detector's (detector_id given)."""
    return _p(ns, kind, *(() if detector_id is None else (detector_id,))) + "/"


def detection_key(ns: str, detector_id: str, t_ns: int, ulid: str, device_id: str) -> str:
    return detection_key_at(detector_prefix(ns, detector_id), bucket_of(t_ns), ulid, device_id)


def detection_key_at(detector_prefix: str, bucket: int, ulid: str, device_id: str) -> str:
    """detection_key from the detector's prefix and the bucket (ingest: prefix made once)."""
    return f"{detector_prefix}{bucket}/{ulid}.{device_id}"


def detector_prefix(ns: str, detector_id: str) -> str:
    return _p(ns, "detectors", detector_id) + "/"


def bucket_prefix(ns: str, detector_id: str, bucket: int) -> str:
    return _p(ns, "detectors", detector_id, bucket) + "/"


def detections_prefix(ns: str) -> str:
    return _p(ns, "detectors") + "/"


@dataclass(frozen=True, slots=True)
class DetectionKey:
    detector_id: str
    bucket: int
    ulid: str
    device_id: str


def parse_detection_key(ns: str, key: str | bytes) -> DetectionKey:
    """Split a detection key; ValueError when it is not one."""
    text = key.decode() if isinstance(key, bytes) else key
    prefix = detections_prefix(ns)
    if not text.startswith(prefix):
        raise ValueError(f"not a detection key: {text!r}")
    parts = text[len(prefix):].split("/")
    if len(parts) != 3 or "." not in parts[2]:
        raise ValueError(f"not a detection key: {text!r}")
    ulid, _, device_id = parts[2].partition(".")
    return DetectionKey(parts[0], int(parts[1]), ulid, device_id)


def detection_bucket(ns: str, key: str | bytes) -> int:
    """The bucket of a detection key of either layout (a pass, or a packed block)."""
    text = key.decode() if isinstance(key, bytes) else key
    parts = text.removeprefix(detections_prefix(ns)).split("/")
    if len(parts) != 3 or not parts[1].isdigit():
        raise ValueError(f"not a detection key: {text!r}")
    return int(parts[1])


def link_key(ns: str, dest_detector_id: str, src_detector_id: str) -> str:
    return _p(ns, "links", dest_detector_id, src_detector_id)


def links_prefix(ns: str, dest_detector_id: str | None = None) -> str:
    return _all_or_one(ns, "links", dest_detector_id)


def registry_key(ns: str, detector_id: str) -> str:
    return _p(ns, "registry", detector_id)


def registry_prefix(ns: str) -> str:
    return _p(ns, "registry") + "/"


def status_latest_key(ns: str, detector_id: str) -> str:
    return _p(ns, "status", detector_id, "latest")


def status_history_key(ns: str, detector_id: str, ulid: str) -> str:
    return _p(ns, "status", detector_id, "history", ulid)


def status_history_prefix(ns: str, detector_id: str) -> str:
    return _p(ns, "status", detector_id, "history") + "/"


def status_prefix(ns: str) -> str:
    return _p(ns, "status") + "/"


def route_key(ns: str, name: str) -> str:
    return _p(ns, "routes", name)


def routes_prefix(ns: str) -> str:
    return _p(ns, "routes") + "/"


def dirty_key(ns: str, detector_id: str, bucket: int) -> str:
    return _p(ns, "dirty", detector_id, bucket)


def dirty_prefix(ns: str, detector_id: str | None = None) -> str:
    return _all_or_one(ns, "dirty", detector_id)


def link_window_key(ns: str, src: str, dest: str, window_start_s: int) -> str:
    return _p(ns, "traveltimes", "link", src, dest, f"{window_start_s:012d}")


def window_hour_key(windows_prefix: str, hour_s: int) -> str:
    """A link's or route's windows starting in that hour (after every per-window key)."""
    return f"{windows_prefix}h{hour_s:012d}"


def link_windows_prefix(ns: str, src: str, dest: str) -> str:
    return _p(ns, "traveltimes", "link", src, dest) + "/"


def route_window_key(ns: str, route: str, window_start_s: int) -> str:
    return _p(ns, "traveltimes", "route", route, f"{window_start_s:012d}")


def route_windows_prefix(ns: str, route: str) -> str:
    return _p(ns, "traveltimes", "route", route) + "/"


def backfill_key(ns: str, target_path: str) -> str:
    """A target's backfill progress; target_path is "link/SRC/DEST" or "route/NAME"."""
    return _p(ns, "backfill", target_path)


def windows_prefix(ns: str) -> str:
    """Every link's and route's windows (then "link/SRC/DEST/" or "route/NAME/")."""
    return _p(ns, "traveltimes") + "/"


def live_key(ns: str, target_path: str) -> str:
    """A target's live figure: the last live_window_s, provisional (leased)."""
    return _p(ns, "live", target_path)


def live_prefix(ns: str) -> str:
    return _p(ns, "live") + "/"


def rules_key(ns: str, target_path: str) -> str:
    """The digest of the rules a target's stored windows were computed with."""
    return _p(ns, "rules", target_path)


def profile_key(ns: str, target_path: str) -> str:
    """A link's or route's normal profile; target_path is "link/SRC/DEST" or "route/NAME"."""
    return _p(ns, "profiles", target_path)


def alert_key(ns: str, subject: str) -> str:
    """An alert's state; subject is "link/SRC/DEST", "route/NAME" or "detector/ID"."""
    return _p(ns, "alerts", "state", subject)


def alerts_prefix(ns: str) -> str:
    return _p(ns, "alerts", "state") + "/"


def alert_threshold_key(ns: str, target_path: str) -> str:
    return _p(ns, "alerts", "thresholds", target_path)


def alert_history_key(ns: str, ulid: str) -> str:
    """One alert change (leased: alerts.HISTORY_DAYS); ULIDs sort by time."""
    return _p(ns, "alerts", "history", ulid)


def alert_history_prefix(ns: str) -> str:
    return _p(ns, "alerts", "history") + "/"


def alert_outbox_key(ns: str, ulid: str) -> str:
    return f"{alert_outbox_prefix(ns)}{ulid}"


def alert_outbox_prefix(ns: str) -> str:
    return _p(ns, "alerts", "outbox") + "/"


def clock_key(ns: str, detector_id: str) -> str:
    """A detector's clock offset estimate (central/store/clocks.py)."""
    return _p(ns, "clocks", detector_id)


def clocks_prefix(ns: str) -> str:
    return _p(ns, "clocks") + "/"


def shard_key(ns: str, detector_id: str) -> str:
    """The detection shard holding a detector's passes (central/store/shards.py)."""
    return _p(ns, "shards", detector_id)


def shards_prefix(ns: str) -> str:
    return _p(ns, "shards") + "/"


def site_shards_key(ns: str) -> str:
    """The detection shards the site's processes use (JSON list of names)."""
    return _p(ns, "config", "shards")


def compacted_key(ns: str, detector_id: str) -> str:
    """The next bucket the compactor looks at for this detector."""
    return _p(ns, "compacted", detector_id)


def compactor_lock(ns: str) -> str:
    return _p(ns, "locks", "compactor")


def window_archive_lock(ns: str) -> str:
    """The one central moving old travel-time windows to the archive holds this."""
    return _p(ns, "locks", "window-archive")


def archive_windows_key(ns: str) -> str:
    """Where the archive is, and from when etcd still holds windows (JSON)."""
    return _p(ns, "archive", "windows")


def archive_lock(ns: str) -> str:
    """The one central exporting closed days to the archive holds this."""
    return _p(ns, "locks", "archive")


def alerts_lock(ns: str) -> str:
    """The one worker evaluating alerts holds this (on its lease)."""
    return _p(ns, "locks", "alerts")


def backfill_prefix(ns: str) -> str:
    return _p(ns, "backfill") + "/"


def worker_lock_name(ns: str, dest_detector_id: str) -> str:
    return _p(ns, "locks", "traveltime", dest_detector_id)


def worker_locks_prefix(ns: str) -> str:
    return _p(ns, "locks", "traveltime") + "/"


def worker_key(ns: str, worker_id: str) -> str:
    return _p(ns, "workers", "traveltime", worker_id)


def workers_prefix(ns: str) -> str:
    return _p(ns, "workers", "traveltime") + "/"


def pending_key(ns: str, dest_detector_id: str, detector_id: str, bucket: int) -> str:
    return _p(ns, "pending", dest_detector_id, detector_id, bucket)


def pending_prefix(ns: str, dest_detector_id: str | None = None) -> str:
    return _all_or_one(ns, "pending", dest_detector_id)


def pki_cert_key(ns: str, serial: int) -> str:
    return f"{_p(ns, 'pki')}/certs/{serial:x}"


def pki_certs_prefix(ns: str) -> str:
    return f"{_p(ns, 'pki')}/certs/"


def pki_revoked_prefix(ns: str) -> str:
    return f"{_p(ns, 'pki')}/revoked/"


def pki_revoked_key(ns: str, serial: int) -> str:
    return f"{pki_revoked_prefix(ns)}{serial:x}"


def pki_token_key(ns: str, digest: str) -> str:
    return f"{_p(ns, 'pki')}/tokens/{digest}"


def audit_prefix(ns: str) -> str:
    return _p(ns, "audit") + "/"


def apikey_key(ns: str, digest: str) -> str:
    """An HTTP API key, by the SHA-256 of its secret (the key itself is never stored)."""
    return f"{apikeys_prefix(ns)}{digest}"


def apikeys_prefix(ns: str) -> str:
    return _p(ns, "apikeys") + "/"


def audit_key(ns: str, ulid: str) -> str:
    return f"{audit_prefix(ns)}{ulid}"


def prefix_end(prefix: str) -> str:
    """The first key after every key that starts with `prefix` (for range reads)."""
    raw = prefix.encode()
    return (raw[:-1] + bytes([raw[-1] + 1])).decode()
