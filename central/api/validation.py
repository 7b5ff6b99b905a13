"""Validation at the service edge: every request is checked here before anything is written.

Each check raises InvalidArgument naming the field (and index), e.g.
"passes[3].device_id: expected 32 lowercase hex characters". Values that may be a device
identity are never echoed back (a misbehaving client might have sent a raw MAC).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from roadside.central.api import wire
from roadside.central.errors import InvalidArgument
from roadside.central.store import keys
from roadside.central.store.records import Detection
from roadside.central.traveltime.stats import FILTERS
from roadside.proto.collector import collector_pb2 as legacy_pb2
from roadside.proto.v1 import collector_pb2, types_pb2

RSSI_MIN, RSSI_MAX = -128, 20  # dBm; anything else is a broken radio or a broken client
MAX_NAME_CHARS = 200
MAX_LINK_SECONDS = 7 * 86_400
# links into one destination: replacing them is one transaction of deletes and puts
MAX_SOURCES = 64
# 12 hex digits, optionally separated: what a raw MAC looks like (refused: privacy)
MAC_LIKE_RE = re.compile(r"[0-9A-Fa-f]{2}([-:_.]?[0-9A-Fa-f]{2}){5}")
LEGACY_DEGREE_UNITS = 100_000  # original API: 1 = 0.00001 degree


@dataclass(frozen=True, slots=True)
class Limits:
    """What the edge accepts; built from CentralConfig by the server."""

    retention_s: float
    clock_skew_s: float
    max_batch_passes: int
    max_message_bytes: int = 4 * 1024 * 1024
    status_max_bytes: int = 16 * 1024
    ingest_passes_per_minute: float = 30_000.0
    ingest_burst_passes: int = 150_000
    status_reports_per_minute: float = 6.0

# a Timestamp's seconds: 1970 .. 2100 (the pcap and etcd data model's range)
MAX_TIMESTAMP_S = 4_102_444_800
# C0 and C1 control characters (terminal escapes) are refused in names people read
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


MAX_SPEED_KMH = 500.0  # the bound of a link's speed settings
OUTLIER_FILTERS = tuple(FILTERS)


def _fail(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {problem}")


def _show(text: str) -> str:
    return repr(text if len(text) <= 70 else text[:67] + "...")


def detector_id(value: str, field: str) -> str:
    if not value:
        raise _fail(field, "missing")
    if not keys.DETECTOR_ID_RE.fullmatch(value):
        raise _fail(
            field,
            f"expected [a-z0-9][a-z0-9_-]{{0,62}} (no '/' or '..'), got {_show(value)}",
        )
    return value


def ulid(value: str, field: str) -> str:
    # the first character bounds the 48-bit time: ULIDs above 7ZZZ... overflow
    if not keys.ULID_RE.fullmatch(value) or value[0] > "7":
        raise _fail(field, f"expected a ULID (26 Crockford base32 characters), got {_show(value)}")
    return value


def time_ns(value: int, field: str, now_ns: int, limits: Limits) -> int:
    if value <= 0:
        raise _fail(field, "missing or not positive (unix nanoseconds)")
    if value > now_ns + limits.clock_skew_s * keys.NS_PER_S:
        raise _fail(field, f"more than {limits.clock_skew_s:g} s in the future")
    if value < now_ns - limits.retention_s * keys.NS_PER_S:
        raise _fail(field, f"older than the retention of {limits.retention_s / 86_400:g} days")
    return value


def finite(value: float, field: str, low: float, high: float) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise _fail(field, f"expected a number from {low:g} to {high:g}, got {value!r}")
    return value


def _unique(values: Iterable[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise _fail(f"{field}[{index}]", f"{what} repeated")
        seen.add(value)


# roadside.v1 ----------------------------------------------------------------

def message_size(req: Message, limits: Limits) -> None:
    size = req.ByteSize()
    if size > limits.max_message_bytes:
        raise _fail("message", f"{size} bytes, at most {limits.max_message_bytes}")


def upload_batch(
    req: collector_pb2.UploadBatchRequest, now_ns: int, limits: Limits
) -> list[Detection]:
    """Check a batch and return its detections ready to store.

    Checked and encoded in one loop over the passes, each field read once: this is the
    ingest hot path. The detections are wire.pass_to_record(...).as_detection() of each pass.
    """
    message_size(req, limits)
    detector_id(req.detector_id, "detector_id")
    if req.batch_id:
        ulid(req.batch_id, "batch_id")
    if len(req.passes) > limits.max_batch_passes:
        raise _fail(
            "passes", f"{len(req.passes)} passes, at most {limits.max_batch_passes} per batch"
        )
    seen: set[tuple[str, str]] = set()
    oldest = now_ns - limits.retention_s * keys.NS_PER_S
    newest = now_ns + limits.clock_skew_s * keys.NS_PER_S
    detector = req.detector_id
    radio_text, address_text = wire.RADIO_TO_TEXT.get, wire.ADDRESS_TO_TEXT.get
    class_text = wire.CLASS_TO_TEXT.get
    detections: list[Detection] = []
    for index, p in enumerate(req.passes):
        first, peak, last, t = p.first_ns, p.peak_ns, p.last_ns, p.timestamp_ns
        pass_ulid, device, count, rssi = p.ulid, p.device_id, p.count, p.peak_rssi
        radio, address, device_class = p.radio, p.address_kind, p.device_class
        # the quick test of every check of one_pass; the full one names the field
        if not (
            0 < first <= peak <= last and first <= t <= last and oldest <= t
            and last <= newest and count >= 1 and RSSI_MIN <= rssi <= RSSI_MAX
            and radio in _RADIOS and address in _ADDRESS_KINDS and device_class in _CLASSES
            and _ULID_MATCH(pass_ulid) and pass_ulid[0] <= "7" and _DEVICE_MATCH(device)
        ):
            one_pass(p, f"passes[{index}]", now_ns, limits)
        pair = (pass_ulid, device)
        if pair in seen:
            raise _fail(f"passes[{index}]", "the same (ulid, device_id) twice in one batch")
        seen.add(pair)
        detections.append((detector, t, pass_ulid, device, first, last, peak, rssi, count,
                           radio_text(radio, "unknown"), address_text(address, "unknown"),
                           p.tagged, p.alias, class_text(device_class, "")))
    return detections


_RADIOS = frozenset(types_pb2.RadioKind.values()) - {types_pb2.RADIO_KIND_UNSPECIFIED}
_ADDRESS_KINDS = frozenset(types_pb2.AddressKind.values())
_CLASSES = frozenset(types_pb2.DeviceClass.values())
_ULID_MATCH = keys.ULID_RE.fullmatch
_DEVICE_MATCH = keys.DEVICE_ID_RE.fullmatch


def one_pass(p: types_pb2.Pass, field: str, now_ns: int, limits: Limits) -> None:
    ulid(p.ulid, f"{field}.ulid")
    if not keys.DEVICE_ID_RE.fullmatch(p.device_id):
        raise _fail(f"{field}.device_id", "expected 32 lowercase hex characters")
    for name in ("first_ns", "peak_ns", "last_ns"):
        if getattr(p, name) <= 0:
            raise _fail(f"{field}.{name}", "missing or not positive (unix nanoseconds)")
    if not p.first_ns <= p.peak_ns <= p.last_ns:
        raise _fail(f"{field}.peak_ns", "expected first_ns <= peak_ns <= last_ns")
    if not p.first_ns <= p.timestamp_ns <= p.last_ns:
        raise _fail(f"{field}.timestamp_ns", "expected within first_ns..last_ns")
    time_ns(p.timestamp_ns, f"{field}.timestamp_ns", now_ns, limits)
    time_ns(p.last_ns, f"{field}.last_ns", now_ns, limits)
    if p.count < 1:
        raise _fail(f"{field}.count", "expected at least 1")
    if not RSSI_MIN <= p.peak_rssi <= RSSI_MAX:
        raise _fail(f"{field}.peak_rssi", f"expected {RSSI_MIN}..{RSSI_MAX} dBm, got {p.peak_rssi}")
    if p.radio not in _RADIOS:
        raise _fail(f"{field}.radio", f"expected a known radio kind, got {p.radio}")
    if p.address_kind not in _ADDRESS_KINDS:
        raise _fail(f"{field}.address_kind", f"unknown address kind {p.address_kind}")
    if p.device_class not in _CLASSES:
        raise _fail(f"{field}.device_class", f"unknown device class {p.device_class}")


def text(value: str, field: str) -> str:
    """Free text people will read: bounded, no control characters (terminal escapes)."""
    if len(value) > MAX_NAME_CHARS:
        raise _fail(field, f"longer than {MAX_NAME_CHARS} characters")
    if CONTROL_RE.search(value):
        raise _fail(field, "control characters (such as terminal escapes) are not allowed")
    return value


def detector(d: types_pb2.Detector, field: str = "detector") -> None:
    detector_id(d.id, f"{field}.id")
    text(d.name, f"{field}.name")
    finite(d.latitude, f"{field}.latitude", -90, 90)
    finite(d.longitude, f"{field}.longitude", -180, 180)
    for index, radio in enumerate(d.radios):
        if radio not in _RADIOS:
            raise _fail(f"{field}.radios[{index}]", f"expected a known radio kind, got {radio}")


def link_sources(
    dest: str, sources: Iterable[tuple[str, int, float]], field: str, src_field: str
) -> None:
    """(src id, max_seconds, length_m) per source of `dest`."""
    items = list(sources)
    if len(items) > MAX_SOURCES:
        raise _fail(field, f"{len(items)} sources, at most {MAX_SOURCES}")
    for index, (src, max_seconds, length_m) in enumerate(items):
        where = f"{field}[{index}]"
        detector_id(src, f"{where}.{src_field}")
        if src == dest:
            raise _fail(f"{where}.{src_field}", "a detector cannot link to itself")
        if not 0 < max_seconds <= MAX_LINK_SECONDS:
            raise _fail(
                f"{where}.max_seconds", f"expected 1..{MAX_LINK_SECONDS}, got {max_seconds}"
            )
        finite(length_m, f"{where}.length_m", 0, 1e7)
    _unique((src for src, _, _ in items), field, "source detector")


def set_links(req: collector_pb2.SetLinksRequest) -> None:
    detector_id(req.dest_detector_id, "dest_detector_id")
    link_sources(
        req.dest_detector_id,
        ((s.src_detector_id, s.max_seconds, s.length_m) for s in req.sources),
        "sources",
        "src_detector_id",
    )
    for index, s in enumerate(req.sources):
        where = f"sources[{index}]"
        finite(s.min_speed_kmh, f"{where}.min_speed_kmh", 0, MAX_SPEED_KMH)
        finite(s.max_speed_kmh, f"{where}.max_speed_kmh", 0, MAX_SPEED_KMH)
        if 0 < s.max_speed_kmh <= s.min_speed_kmh:
            raise _fail(f"{where}.max_speed_kmh", f"must be above min_speed_kmh "
                        f"({s.min_speed_kmh:g}), got {s.max_speed_kmh:g}")
        if (s.min_speed_kmh or s.max_speed_kmh) and not s.length_m:
            raise _fail(f"{where}.length_m", "speed bounds need the link's length")
        geometry(s.geometry, f"{where}.geometry")
        if s.outlier_filter and s.outlier_filter not in OUTLIER_FILTERS:
            raise _fail(f"{where}.outlier_filter", f"expected one of "
                        f"{', '.join(OUTLIER_FILTERS)}, got {_show(s.outlier_filter)}")


MAX_GEOMETRY_POINTS = 2000  # points of a link's road (a few km at every few metres)


def geometry(values: Sequence[float], field: str) -> None:
    """Longitude, latitude pairs (WGS 84): two points at least, or none (a straight line)."""
    if not values:
        return
    if len(values) % 2 or len(values) < 4:
        raise _fail(field, f"expected longitude, latitude pairs, two points at least; got "
                           f"{len(values)} numbers")
    if len(values) > 2 * MAX_GEOMETRY_POINTS:
        raise _fail(field, f"at most {MAX_GEOMETRY_POINTS} points, got {len(values) // 2}")
    for i in range(0, len(values), 2):
        finite(values[i], f"{field}[{i}] (longitude)", -180, 180)
        finite(values[i + 1], f"{field}[{i + 1}] (latitude)", -90, 90)


def report_status(req: collector_pb2.ReportStatusRequest, now_ns: int, limits: Limits) -> None:
    size = req.ByteSize()
    if size > limits.status_max_bytes:
        raise _fail("status", f"{size} bytes, at most {limits.status_max_bytes}")
    detector_id(req.status.detector_id, "status.detector_id")
    time_ns(req.status.reported_ns, "status.reported_ns", now_ns, limits)
    if not math.isfinite(req.status.battery_voltage) or req.status.battery_voltage < 0:
        raise _fail("status.battery_voltage", "expected a non-negative number")


def route(r: collector_pb2.Route, field: str = "route") -> None:
    if not keys.ROUTE_NAME_RE.fullmatch(r.name):
        raise _fail(f"{field}.name", f"expected [a-z0-9][a-z0-9_-]{{0,62}}, got {_show(r.name)}")
    if len(r.detector_ids) < 2:
        raise _fail(f"{field}.detector_ids", "expected at least two detectors")
    for index, det in enumerate(r.detector_ids):
        detector_id(det, f"{field}.detector_ids[{index}]")
    _unique(r.detector_ids, f"{field}.detector_ids", "detector")


# the original `collector` package ---------------------------------------------

def legacy_device_id(event: legacy_pb2.DetectionEvent, field: str) -> tuple[str, str]:
    """(radio, device id) of an original DetectionEvent."""
    radio = event.WhichOneof("device_id")
    if radio is None:
        raise _fail(f"{field}.device_id", "missing (set one of wifi, bluetooth, mobile)")
    value = getattr(event, radio)
    where = f"{field}.{radio}"
    if not keys.LEGACY_DEVICE_ID_RE.fullmatch(value):
        raise _fail(where, "expected 1 to 128 of A-Z a-z 0-9 _ -")
    if MAC_LIKE_RE.fullmatch(value):
        raise _fail(where, "looks like a raw MAC address; send a keyed hash (privacy)")
    return radio, value


def legacy_coordinates(loc: legacy_pb2.Coordinates, field: str = "loc") -> None:
    """Coordinates; field "" when they are the request itself."""
    at = f"{field}." if field else ""
    detector_id(loc.detector_id, f"{at}detector_id")
    if not -90 * LEGACY_DEGREE_UNITS <= loc.latitude <= 90 * LEGACY_DEGREE_UNITS:
        raise _fail(f"{at}latitude", "expected -9000000..9000000 (0.00001 degree units)")
    if not -180 * LEGACY_DEGREE_UNITS <= loc.longitude <= 180 * LEGACY_DEGREE_UNITS:
        raise _fail(f"{at}longitude", "expected -18000000..18000000 (0.00001 degree units)")


def legacy_event_log(log: legacy_pb2.EventLog, now_ns: int, limits: Limits) -> None:
    message_size(log, limits)
    detector_id(log.loc.detector_id, "loc.detector_id")
    total = sum(len(e.time) for e in log.events)
    if total > limits.max_batch_passes:
        raise _fail("events", f"{total} detections, at most {limits.max_batch_passes} per call")
    for index, event in enumerate(log.events):
        field = f"events[{index}]"
        legacy_device_id(event, field)
        if not event.time:
            raise _fail(f"{field}.time", "expected at least one timestamp")
        for j, stamp in enumerate(event.time):
            if not 0 <= stamp.nanos < keys.NS_PER_S:
                raise _fail(f"{field}.time[{j}].nanos", "expected 0..999999999")
            if not 0 < stamp.seconds < MAX_TIMESTAMP_S:
                raise _fail(f"{field}.time[{j}].seconds",
                            f"expected 1..{MAX_TIMESTAMP_S - 1} (unix seconds)")
            time_ns(stamp.ToNanoseconds(), f"{field}.time[{j}]", now_ns, limits)


def legacy_link(link: legacy_pb2.DetectorLink) -> None:
    detector_id(link.dest_detector_id, "dest_detector_id")
    link_sources(
        link.dest_detector_id,
        ((s.detector_id, s.max_seconds, 0.0) for s in link.src_detectors),
        "src_detectors",
        "detector_id",
    )


def legacy_status(status: legacy_pb2.DetectorStatus) -> None:
    legacy_coordinates(status.loc)
    if not math.isfinite(status.battery_voltage) or status.battery_voltage < 0:
        raise _fail("battery_voltage", "expected a non-negative number")
    for index, device in enumerate(status.active_detectors):
        if device not in legacy_pb2.DEVICE.values():
            raise _fail(f"active_detectors[{index}]", f"unknown device type {device}")
