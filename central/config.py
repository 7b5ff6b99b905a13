"""Central's settings: defaults < YAML (section "central" allowed) < ROADSIDE_* < flags."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadside.central.store import keys
from roadside.central.store.shards import parse_shards
from roadside.common import laptop
from roadside.common.config_layers import load

# the embedded etcd's home when --data-dir is not given (works without root)
DEFAULT_DATA_DIR = laptop.data_dir()


@dataclass(frozen=True, slots=True)
class CentralConfig:
    host: str = "0.0.0.0"  # bind address of all three servers
    collector_port: int = 9000  # roadside.v1 and the original collector (0 = any free port)
    query_port: int = 8000  # roadside.v1 and the original query service
    health_port: int = 5000  # grpc.health.v1 (also served on the other two ports)
    etcd_endpoints: tuple[str, ...] = ()  # empty: run an embedded etcd in data_dir
    # detections on separate etcd clusters: NAME=HOST:PORT, a name once per endpoint
    # (README: Detection shards); the control etcd keeps the rest. Empty: all in one etcd
    detection_shards: tuple[str, ...] = ()
    # the embedded etcd's client port on 127.0.0.1, stable so that `roadside central worker`
    # and others find it (0 = any free port); in use: serve fails naming this setting
    embedded_etcd_port: int = 2379
    embedded_etcd_peer_port: int = 0  # its peer port (0 = any free port)
    # a travel-time worker inside serve (settings: the YAML "worker:" section,
    # ROADSIDE_WORKER_<SETTING>); None = on with the embedded etcd, off with etcd_endpoints
    worker: bool | None = None
    namespace: str = "tdc"  # etcd key prefix, as the original system
    retention_days: float = 7.0  # detections and status history expire after this
    data_dir: Path = DEFAULT_DATA_DIR  # the embedded etcd's data lives here
    clock_skew_s: float = 300.0  # refuse detections further in the future than this
    max_batch_passes: int = 5000  # largest UploadBatch accepted
    max_message_bytes: int = 4 * 1024 * 1024  # largest gRPC request accepted
    grace_s: float = 10.0  # on stop, in-flight calls get this long to finish
    workers: int = 16  # threads per server (the etcd client is blocking)
    health_poll_s: float = 1.0  # how often the health thread asks etcd
    etcd_timeout_s: float = 5.0  # deadline of every etcd call
    etcd_quota_bytes: int = 0  # embedded etcd's --quota-backend-bytes (0 = etcd's 2 GiB)
    # etcd over TLS with a client certificate (its CN is the etcd user); the embedded etcd
    # gets TLS and auth from the site PKI by itself
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    # bounds (README: Limits)
    ingest_passes_per_minute: float = 30_000.0  # per detector; beyond: RESOURCE_EXHAUSTED
    ingest_burst_passes: int = 150_000  # a detector catching up may send this many at once
    status_max_bytes: int = 16 * 1024  # largest status report accepted
    status_reports_per_minute: float = 6.0  # per detector (a burst of as many is allowed)
    status_history_max: int = 1440  # status reports kept per detector (a day at 1/min)
    # open streaming calls per server (0 = half of workers); the other workers stay for unary
    max_streams: int = 0
    follow_backlog_events: int = 20_000  # a follower this far behind is ended
    max_concurrent_rpcs: int = 256  # calls in progress or queued per server
    # trust (README: Security model): mTLS from the site PKI in pki_dir unless insecure
    insecure: bool = False  # plaintext, no roles: development on loopback only
    pki_dir: Path | None = None  # the site CA and central's certificate (None: data_dir/pki)
    # closed days exported by `roadside archive export` (Parquet); the events queries read
    # them for ranges etcd no longer holds (None: no archive)
    archive_dir: Path | None = None
    archive_interval_s: float = 3600.0  # how often central looks for closed days to export
    # travel-time windows older than this move from etcd to the archive (with archive_dir;
    # 0 = they stay in etcd until their retention ends)
    windows_hot_days: float = 7.0
    # a bucket's blocks (an agent's batches) are merged into one this long after it ends,
    # each pass once; 0 = never
    compact_after_s: float = 600.0
    enroll_port: int = 9001  # TLS without client certificates: boxes enroll with a token
    tls_cert_file: Path | None = None  # central's certificate (PEM), instead of pki_dir's
    tls_key_file: Path | None = None  # its private key (PEM)
    tls_client_ca_file: Path | None = None  # when set, clients need a certificate from it (mTLS)
    # the HTTP feeds (README: The city's desk): HTTPS with central's certificate unless insecure
    http: bool = True  # serve them at all
    http_port: int = 8080  # 0 = any free port
    http_open_data: bool = False  # also without an API key: k-suppressed aggregates only
    http_country: str = "XX"  # ISO 3166 code of the DATEX II publication's creator
    # map tiles under the dashboard's map: a URL template with {z}, {x}, {y} (e.g. the
    # city's own tile server); empty: no tiles, nothing fetched from elsewhere
    http_map_tiles: str = ""
    # or a vector basemap: the URL of a MapLibre style (JSON; e.g. the city's OpenMapTiles
    # server), drawn by MapLibre GL under the network; only its servers are asked
    http_map_style: str = ""
    http_map_attribution: str = ""  # shown under the map when tiles are drawn
    # the dashboard's clock: an IANA time zone (e.g. Europe/Amsterdam); empty: the browser's
    http_time_zone: str = ""
    allowed_silence_s: float = 900.0  # a detector without a status report longer: silent
    clock_offset_max_s: float = 2.0  # a box's clock further off than this is flagged
    metrics: bool = True  # Prometheus metrics on metrics_port (plain HTTP, like health)
    # loopback: a Prometheus on this host; 0.0.0.0 (or an address) for one elsewhere
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9180  # 0 = any free port

    def __post_init__(self) -> None:
        if not keys.NAMESPACE_RE.fullmatch(self.namespace):
            raise ValueError(
                f"namespace: expected [a-z0-9][a-z0-9_-]{{0,62}}, got {self.namespace!r}"
            )
        ports = ("collector_port", "query_port", "health_port", "embedded_etcd_port",
                 "embedded_etcd_peer_port", "enroll_port", "http_port", "metrics_port")
        for name in ports:
            port = getattr(self, name)
            if not 0 <= port < 65536:
                raise ValueError(f"{name}: expected 0..65535, got {port}")
        positive = ("retention_days", "max_batch_passes", "max_message_bytes", "workers",
                    "health_poll_s", "etcd_timeout_s", "ingest_passes_per_minute",
                    "status_max_bytes", "status_reports_per_minute", "status_history_max",
                    "follow_backlog_events", "max_concurrent_rpcs", "allowed_silence_s",
                    "clock_offset_max_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("clock_skew_s", "grace_s", "etcd_quota_bytes", "windows_hot_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")

        if self.ingest_burst_passes < self.max_batch_passes:
            raise ValueError(f"ingest_burst_passes: must be at least max_batch_passes "
                             f"({self.max_batch_passes}), got {self.ingest_burst_passes}")
        if not 0 <= self.max_streams < self.workers:
            raise ValueError(f"max_streams: must be 0..{self.workers - 1} (below workers, so "
                             f"that unary calls are always served), got {self.max_streams}")
        if self.http_time_zone:
            try:
                zoneinfo.ZoneInfo(self.http_time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"http_time_zone: not an IANA time zone (e.g. "
                                 f"Europe/Amsterdam): {self.http_time_zone!r}") from exc
        if self.http_map_tiles and not all(f"{{{c}}}" in self.http_map_tiles for c in "zxy"):
            raise ValueError(f"http_map_tiles: a URL template with {{z}}, {{x}} and {{y}}, "
                             f"got {self.http_map_tiles!r}")
        if self.http_map_style and self.http_map_tiles:
            raise ValueError("http_map_style: a vector style or raster tiles "
                             "(http_map_tiles), not both")
        if self.http_map_style and not self.http_map_style.startswith(("https://", "http://",
                                                                         "/")):
            raise ValueError(f"http_map_style: the URL of a MapLibre style JSON, got "
                             f"{self.http_map_style!r}")
        if len(self.http_country) != 2 or not self.http_country.isalpha():
            raise ValueError(f"http_country: expected a two-letter ISO 3166 code, got "
                             f"{self.http_country!r}")
        parse_shards(self.detection_shards)
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file: give both or neither")


    @property
    def runs_worker(self) -> bool:
        """Whether serve runs a travel-time worker: `worker`, or else "etcd is embedded"."""
        return not self.etcd_endpoints if self.worker is None else self.worker

    @property
    def pki_path(self) -> Path:
        """Where the site CA and central's certificate are: pki_dir, else DATA_DIR/pki."""
        return self.pki_dir or self.data_dir / "pki"

    @property
    def stream_slots(self) -> int:
        """Streaming calls one server runs at once."""
        return self.max_streams or max(1, self.workers // 2)

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86_400


def load_config(
    file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    local: Mapping[str, Any] | None = None,
) -> CentralConfig:
    """CentralConfig from the layers; raises config_layers.ConfigError naming the field."""
    return load(CentralConfig, file, env, flags, section="central", local=local)


def local_etcd() -> dict[str, Any]:
    """The lowest settings layer of the commands run beside a laptop central: its embedded
    etcd's endpoint (the etcd's client certificate is found in its PKI directory)."""
    found = laptop.addresses().get("etcd")
    return {"etcd_endpoints": (found,)} if found else {}
