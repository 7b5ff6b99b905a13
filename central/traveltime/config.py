"""Travel-time settings. Layers: defaults, YAML (section "worker"), ROADSIDE_*, flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roadside.central.store import keys
from roadside.central.store.shards import parse_shards

ID_SHAPE = "[a-z0-9][a-z0-9_-]{0,62}"
MAX_WINDOW_S = 3600  # widest window: queries look this far before `since` for overlaps
ROUTE_MAX_SECONDS = 1800  # per hop of a route when no link gives max_seconds


@dataclass(frozen=True)
class TravelTimeConfig:
    namespace: str = "tdc"
    etcd_endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    detection_shards: tuple[str, ...] = ()  # as central's: NAME=HOST:PORT per endpoint
    window_s: int = 300  # width of a travel-time window
    # A window is published this long after it closes: pass_gap + upload latency.
    grace_s: float = 90.0
    k: int = 5  # windows with fewer kept samples are suppressed
    mad_threshold: float = 3.5  # outlier: |x - median| > threshold * 1.4826 * MAD
    max_speed_kmh: float = 200.0  # faster than this over a link of known length: implausible
    route_max_seconds: int = ROUTE_MAX_SECONDS  # per hop of a route no link gives
    # the live figure: each link and route also carries an estimate over the last
    # live_window_s, recomputed every live_every_s, provisional until its window is published
    live_window_s: int = 300  # 0 = no live figure
    live_every_s: float = 60.0
    backfill_s: int = 3600  # missing windows this far back at once; older ones in the background
    profile_weeks: int = 4  # normal profiles: from this many weeks of windows
    profile_every_s: float = 3600.0  # a held target's profile is computed again after this
    profile_utc_offset_hours: float = 0.0  # the clock of the profiles' weekday and time bins
    # alerts (README: Alerts), evaluated by one worker at a time
    alerts: bool = True
    alert_every_s: float = 30.0
    alert_warn_ratio: float = 1.25  # travel time this many times the normal: Warn
    alert_bad_ratio: float = 1.6
    alert_min_samples: int = 5  # devices a window needs to count
    alert_for_s: float = 600.0  # the condition must hold this long
    alert_allowed_silence_s: float = 900.0  # a detector without a status report longer: Bad
    alert_backlog_s: float = 1800.0  # oldest unsent pass older: Warn
    alert_battery_v: float = 11.5  # battery under this (when measured): Warn
    alert_webhooks: tuple[str, ...] = ()  # URLs that get each change as a JSON POST
    # a detector whose clock is off by more than clock_offset_max_s (central's estimate from
    # its uploads): correct its times, exclude it from its links, or ignore (README: Clocks)
    clock_policy: str = "correct"
    clock_offset_max_s: float = 2.0
    lock_ttl_s: int = 10  # lease of a worker's locks; a dead worker's locks expire after it
    retention_days: float = 365.0  # stored windows expire after this; 0 = keep them forever
    worker_id: str = ""  # default: host and process id
    etcd_ca_file: Path | None = None  # etcd over TLS with a client certificate (and auth)
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    # Prometheus metrics of `roadside central worker` (inside serve: serve's metrics port)
    metrics: bool = True
    metrics_host: str = "127.0.0.1"  # loopback; 0.0.0.0 for a Prometheus on another host
    metrics_port: int = 9181  # 0 = any free port

    def __post_init__(self) -> None:
        ids = {"namespace": self.namespace, "worker_id": self.worker_id or "w"}
        for name, value in ids.items():
            if not keys.DETECTOR_ID_RE.fullmatch(value):
                raise ValueError(f"{name}: expected {ID_SHAPE}, got {value!r}")
        if not 0 < self.window_s <= MAX_WINDOW_S or self.window_s % 1:
            raise ValueError(
                f"window_s: must be a whole number of seconds in 1..{MAX_WINDOW_S}, "
                f"got {self.window_s}"
            )
        parse_shards(self.detection_shards)
        if not 0 <= self.live_window_s <= MAX_WINDOW_S or self.live_window_s % 1:
            raise ValueError(f"live_window_s: must be a whole number of seconds in "
                             f"0..{MAX_WINDOW_S}, got {self.live_window_s}")
        if self.live_every_s < 1:
            raise ValueError(f"live_every_s: must be at least 1, got {self.live_every_s}")
        if self.k < 1:
            raise ValueError(f"k: must be at least 1, got {self.k}")
        if self.grace_s < 0:
            raise ValueError(f"grace_s: must not be negative, got {self.grace_s}")
        if self.retention_days < 0:
            raise ValueError(f"retention_days: must not be negative, got {self.retention_days}")
        if self.profile_weeks < 1:
            raise ValueError(f"profile_weeks: must be at least 1, got {self.profile_weeks}")
        if not -14 <= self.profile_utc_offset_hours <= 14:
            raise ValueError(f"profile_utc_offset_hours: expected -14..14, got "
                             f"{self.profile_utc_offset_hours}")
        if self.clock_policy not in ("correct", "exclude", "ignore"):
            raise ValueError(f"clock_policy: expected correct, exclude or ignore, got "
                             f"{self.clock_policy!r}")
        if self.clock_offset_max_s <= 0:
            raise ValueError(f"clock_offset_max_s: must be positive, got "
                             f"{self.clock_offset_max_s}")
        if self.lock_ttl_s < 2:
            raise ValueError(f"lock_ttl_s: must be at least 2, got {self.lock_ttl_s}")
