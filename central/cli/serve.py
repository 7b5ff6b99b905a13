"""`roadside central serve`: run the collector, query and health servers until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from roadside.central.cli.settings import add_setting_flags, setting_flags
from roadside.central.config import DEFAULT_DATA_DIR, CentralConfig, load_config
from roadside.common import laptop, output

if TYPE_CHECKING:
    from roadside.central.api.server import RunningCentral

log = logging.getLogger(__name__)

# one flag per CentralConfig field; the help text of each
HELP = {
    "host": "bind address of all three servers (default 0.0.0.0)",
    "collector_port": "collector port: roadside.v1 and the original collector API (default 9000)",
    "query_port": "query port: roadside.v1 and the original query API (default 8000)",
    "health_port": "grpc.health.v1 port (default 5000); 0 = any free port",
    "etcd_endpoints": "etcd HOST:PORT, several for failover (repeat, or comma-separate); "
                      "none = start an embedded etcd in --data-dir",
    "embedded_etcd_port": "client port of the embedded etcd on 127.0.0.1 (default 2379, "
                          "so other commands find it; 0 = any free port); in use = error",
    "embedded_etcd_peer_port": "peer port of the embedded etcd (default 0 = any free port)",
    "worker": "run a travel-time worker in this process (default: on with the embedded "
              "etcd, off with --etcd-endpoints); its settings: the YAML 'worker:' section "
              "and ROADSIDE_WORKER_<SETTING>",
    "namespace": "etcd key namespace (default tdc, as the original system)",
    "retention_days": "days detections and status history are kept (default 7)",
    "data_dir": f"directory of the embedded etcd's data (default {DEFAULT_DATA_DIR})",
    "clock_skew_s": "refuse detections further in the future than this many seconds (300)",
    "max_batch_passes": "largest batch accepted (default 5000 passes)",
    "max_message_bytes": "largest gRPC request accepted in bytes (default 4 MiB)",
    "grace_s": "on SIGTERM, seconds in-flight calls get to finish (default 10)",
    "workers": "threads per server (default 16)",
    "health_poll_s": "seconds between etcd health probes (default 1)",
    "etcd_timeout_s": "deadline of every etcd call in seconds (default 5)",
    "etcd_quota_bytes": "embedded etcd's backend quota in bytes (default 0 = etcd's 2 GiB)",
    "ingest_passes_per_minute": "each detector's ingest quota (default 30000 passes a "
                                "minute; beyond: RESOURCE_EXHAUSTED, the agent backs off)",
    "ingest_burst_passes": "passes a detector may send at once, e.g. catching up after an "
                           "outage (default 150000)",
    "status_max_bytes": "largest status report accepted in bytes (default 16384)",
    "status_reports_per_minute": "status reports accepted per detector a minute (default 6)",
    "status_history_max": "status reports kept per detector (default 1440)",
    "max_streams": "streaming calls one server runs at once (default 0 = half of workers)",
    "follow_backlog_events": "events a follow stream may fall behind before it is ended "
                             "(default 20000)",
    "max_concurrent_rpcs": "calls in progress or queued per server (default 256)",
    "insecure": "plaintext, no client certificates, no roles: development on loopback only",
    "pki_dir": "the site CA and central's certificate (default DATA_DIR/pki; with the "
               "embedded etcd made on first start, with an admin certificate for the CLI)",
    "enroll_port": "TLS port where boxes enroll with a token (default 9001)",
    "archive_dir": "the Parquet archive `roadside archive export` writes: the events queries "
                   "read it for days etcd no longer holds, and central exports every "
                   "closed day to it (default none: no archive)",
    "archive_interval_s": "how often central looks for closed days to export (3600)",
    "windows_hot_days": "travel-time windows older than this many days move from etcd to "
                        "the archive (7; with archive_dir; 0 = they stay in etcd)",
    "compact_after_s": "merge a bucket's blocks into one this long after it ends (600; 0 = "
                       "never)",
    "tls_cert_file": "PEM certificate: TLS on the collector and query ports (health stays "
                     "plain for probes)",
    "tls_key_file": "PEM private key of --tls-cert-file",
    "tls_client_ca_file": "PEM CA: clients must present a certificate it signed (mTLS)",
    "http": "serve the HTTP feeds (JSON, GeoJSON, DATEX II; default on)",
    "http_port": "port of the HTTP feeds (default 8080; HTTPS unless insecure)",
    "http_open_data": "serve travel times, network and DATEX II without an API key too "
                      "(k-suppressed aggregates only; default off)",
    "http_country": "ISO 3166 country code of the DATEX II publication's creator (XX)",
    "http_map_tiles": "tile URL template ({z}/{x}/{y}) under the dashboard's map (none)",
    "http_map_style": "URL of a MapLibre style JSON (vector tiles) under the dashboard's map, "
                      "instead of --http-map-tiles (none)",
    "http_map_attribution": "the tiles' attribution, shown under the map",
    "http_time_zone": "the dashboard's clock, an IANA time zone such as Europe/Amsterdam "
                      "(default: the browser's)",
    "allowed_silence_s": "a detector without a status report for longer is silent (900)",
    "metrics": "serve Prometheus metrics (default on)",
    "metrics_host": "address of the metrics port (default 127.0.0.1; 0.0.0.0 for a "
                    "Prometheus on another host)",
    "metrics_port": "port of the Prometheus metrics, plain HTTP (default 9180)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the collector, query and health servers",
        description=(
            "Run central: collector (:9000), query (:8000) and health (:5000) gRPC servers on "
            "etcd. Settings come from defaults, the YAML --config file (top level or a "
            "'central:' section), ROADSIDE_<SETTING> environment variables (e.g. "
            "ROADSIDE_ETCD_ENDPOINTS=a:2379,b:2379), then these flags. Without etcd "
            "endpoints an embedded etcd runs in --data-dir on 127.0.0.1:2379, and a "
            "travel-time worker runs in this process. SIGTERM drains calls, stops the "
            "worker and etcd, exits 0."
        ),
        epilog="examples (a laptop central: embedded etcd, site PKI, worker; then a second one "
        "with\nits own data and PKI):\n  roadside central serve\n"
        "  roadside central serve --data-dir ./lab\n"
        "in production:\n  roadside central serve --config /etc/roadside/central.yaml",
        formatter_class=output.HelpFormatter,
    )
    add_setting_flags(parser, CentralConfig, HELP)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> CentralConfig:
    return load_config(args.config, flags=setting_flags(args, CentralConfig))


def _publish(running: RunningCentral) -> None:
    """A central on the laptop's data dir tells the commands beside it where it listens."""
    if running.config.data_dir.resolve() != laptop.data_dir().resolve():
        return
    found = {"collector": running.collector_addr, "query": running.query_addr,
             "http": running.http_url}
    if running.etcd is not None:
        found["etcd"] = running.etcd.endpoint
    laptop.publish(found)


def run(args: argparse.Namespace) -> int:
    from roadside.central.api.server import start_central  # grpc servers load only for this command

    config = config_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: draining calls (up to %g s)", signal.Signals(signum).name,
                 config.grace_s)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        running = start_central(config, args.config, serving=_publish)
        try:
            stop.wait()
        finally:
            running.stop()
            laptop.withdraw()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
