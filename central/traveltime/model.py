"""Travel-time domain values: what is computed (a target) and what is stored (a window)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from roadside.central.store import keys
from roadside.central.store.records import LinkRecord

REJECT_MAX_SECONDS = "max_seconds"  # the src pass was older than the link's max_seconds
REJECT_OUTLIER = "outlier"  # refused by the link's outlier filter (default: the MAD rule)
REJECT_IMPLAUSIBLE = "implausible_speed"  # outside the speeds allowed over a known length
@dataclass(frozen=True, slots=True)
class Target:
    """A link (one hop, route "") or a named route (its links, in driving order)."""

    hops: tuple[LinkRecord, ...]
    route: str = ""

    @property
    def src(self) -> str:
        return self.hops[0].src

    @property
    def dest(self) -> str:
        return self.hops[-1].dest

    @property
    def detectors(self) -> tuple[str, ...]:
        return (self.hops[0].src, *(h.dest for h in self.hops))

    @property
    def length_m(self) -> float:
        """Total length, 0 when any hop's length is unknown."""
        if any(h.length_m <= 0 for h in self.hops):
            return 0.0
        return sum(h.length_m for h in self.hops)

    @property
    def max_seconds(self) -> int:
        return sum(h.max_seconds for h in self.hops)

    def window_key(self, ns: str, window_start_s: int) -> str:
        if self.route:
            return keys.route_window_key(ns, self.route, window_start_s)
        return keys.link_window_key(ns, self.src, self.dest, window_start_s)

    def hour_key(self, ns: str, hour_s: int) -> str:
        return keys.window_hour_key(self.windows_prefix(ns), hour_s)

    def windows_prefix(self, ns: str) -> str:
        if self.route:
            return keys.route_windows_prefix(ns, self.route)
        return keys.link_windows_prefix(ns, self.src, self.dest)

    @property
    def path(self) -> str:
        """"link/SRC/DEST" or "route/NAME": the target in keys that are not windows."""
        return f"route/{self.route}" if self.route else f"link/{self.src}/{self.dest}"

    def label(self) -> str:
        return f"route {self.route}" if self.route else f"{self.src} -> {self.dest}"

    @property
    def rules_digest(self) -> str:
        """What its windows depend on (hops, their limits and filters), as a digest."""
        text = b"\n".join(f"{h.src}>{h.dest}:".encode() + h.to_json(geometry=False)
                           for h in self.hops)
        return hashlib.sha256(text).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Figures:
    """The summary of the kept samples (seconds)."""

    median_s: float
    p10_s: float
    p25_s: float
    p75_s: float
    p90_s: float
    mad_s: float  # median absolute deviation, unscaled


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """One target's window as stored in etcd. Suppressed: no figures, no samples."""

    src: str
    dest: str
    route: str
    window_start_ns: int
    window_end_ns: int
    count: int  # samples kept
    suppressed: bool
    figures: Figures | None
    rejections: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0  # dest passes with no src pass of the same device
    samples_s: tuple[float, ...] = ()  # kept samples, only when not suppressed
    computed_ns: int = 0
    source_revision: int = 0  # the etcd revision the passes were read at
    worker: str = ""  # the worker that computed it
    no_data: bool = False  # as read from the wire: no device at all (suppressed is False)
    normal_s: float | None = None  # as read from the wire: the profile's normal, if known
    devices: int = 0  # distinct devices among the kept samples (0: not recorded)
    # kept samples by device class ("unknown" for BLE and WiFi) and by address kind; empty
    # when suppressed (under k devices nothing about them is told)
    by_class: dict[str, int] = field(default_factory=dict)
    by_address_kind: dict[str, int] = field(default_factory=dict)
    vehicle_only: bool = False  # matched only vehicle-class devices (the link's policy)
    # detectors whose clock was off: the offset (s) taken off their passes, or left out
    clock_corrected: dict[str, float] = field(default_factory=dict)
    clock_excluded: tuple[str, ...] = ()
    provisional: bool = False  # a live figure: a sliding window, not yet final

    @property
    def nobody(self) -> bool:
        """No sample and no rejection: the API's "no data" (not suppressed)."""
        return self.count == 0 and not self.rejections

    def to_json(self) -> bytes:
        data: dict[str, object] = {
            "src": self.src,
            "dest": self.dest,
            "route": self.route,
            "window_start_ns": self.window_start_ns,
            "window_end_ns": self.window_end_ns,
            "count": self.count,
            "devices": self.devices,
            "suppressed": self.suppressed,
            "rejections": self.rejections,
            "unmatched": self.unmatched,
            "computed_ns": self.computed_ns,
            "source_revision": self.source_revision,
            "worker": self.worker,
        }
        if self.by_class:
            data.update(by_class=self.by_class, by_address_kind=self.by_address_kind)
        if self.vehicle_only:
            data["vehicle_only"] = True
        if self.clock_corrected:
            data["clock_corrected"] = self.clock_corrected
        if self.clock_excluded:
            data["clock_excluded"] = list(self.clock_excluded)
        if self.provisional:
            data["provisional"] = True
        if self.figures is not None:
            f = self.figures
            data.update(
                median_s=f.median_s, p10_s=f.p10_s, p25_s=f.p25_s, p75_s=f.p75_s,
                p90_s=f.p90_s, mad_s=f.mad_s,
            )
            data["samples_s"] = [round(s, 3) for s in self.samples_s]
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: bytes) -> WindowSummary:
        data = json.loads(value)
        figures = None
        if "median_s" in data:
            figures = Figures(
                float(data["median_s"]), float(data["p10_s"]), float(data["p25_s"]),
                float(data["p75_s"]), float(data["p90_s"]), float(data["mad_s"]),
            )
        return cls(
            src=str(data["src"]),
            dest=str(data["dest"]),
            route=str(data.get("route", "")),
            window_start_ns=int(data["window_start_ns"]),
            window_end_ns=int(data["window_end_ns"]),
            count=int(data["count"]),
            devices=int(data.get("devices", 0)),
            suppressed=bool(data["suppressed"]),
            figures=figures,
            rejections={str(k): int(v) for k, v in data.get("rejections", {}).items()},
            unmatched=int(data.get("unmatched", 0)),
            samples_s=tuple(float(s) for s in data.get("samples_s", ())),
            computed_ns=int(data.get("computed_ns", 0)),
            source_revision=int(data.get("source_revision", 0)),
            worker=str(data.get("worker", "")),
            by_class={str(k): int(v) for k, v in data.get("by_class", {}).items()},
            by_address_kind={str(k): int(v)
                             for k, v in data.get("by_address_kind", {}).items()},
            vehicle_only=bool(data.get("vehicle_only", False)),
            clock_corrected={str(k): float(v)
                             for k, v in data.get("clock_corrected", {}).items()},
            clock_excluded=tuple(str(d) for d in data.get("clock_excluded", ())),
            provisional=bool(data.get("provisional", False)),
        )
