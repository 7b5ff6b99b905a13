"""`roadside central worker`: compute travel-time windows until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from prometheus_client import CollectorRegistry

from roadside.central.cli.settings import add_setting_flags, setting_flags
from roadside.central.config import local_etcd
from roadside.central.metrics import worker_families
from roadside.central.store.client import CALL_TIMEOUT_S, connect, connect_shards, etcd_tls
from roadside.central.store.shards import Shards
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.central.traveltime.worker import TravelTimeWorker
from roadside.common import laptop
from roadside.common.config_layers import load
from roadside.common.errors import RoadsideError
from roadside.common.metrics import FromFunction, MetricsServer

log = logging.getLogger(__name__)

OPTION_HELP = {
    "namespace": "etcd key namespace (default tdc)",
    "metrics": "serve Prometheus metrics (default on)",
    "metrics_host": "address of the metrics port (default 127.0.0.1; 0.0.0.0 for a "
                    "Prometheus on another host)",
    "metrics_port": "Prometheus metrics port, plain HTTP (default 9181; 0 = any free port)",
    "etcd_ca_file": "etcd over TLS: the CA of its certificate (PEM)",
    "etcd_cert_file": "etcd over TLS: this worker's client certificate (its CN is the etcd "
                      "user)",
    "etcd_key_file": "its private key",
    "etcd_endpoints": "etcd HOST:PORT, several for failover (repeat or comma-separate; "
                      "default 127.0.0.1:2379)",
    "window_s": "width of a travel-time window in seconds (default 300)",
    "grace_s": "a window is published this many seconds after it closes (default 90: "
               "pass gap + upload latency)",
    "k": "windows with fewer kept samples are suppressed (default 5)",
    "mad_threshold": "outlier when |x - median| > this * 1.4826 * MAD (default 3.5)",
    "max_speed_kmh": "faster than this over a link of known length is implausible (200)",
    "route_max_seconds": "max seconds of a route hop that is not a link (default 1800)",
    "alerts": "evaluate alerts (one worker at a time; default on)",
    "alert_every_s": "seconds between alert evaluations (30)",
    "alert_warn_ratio": "Warn at this many times the normal travel time (1.25)",
    "alert_bad_ratio": "Bad at this many times the normal travel time (1.6)",
    "alert_min_samples": "devices a window needs to count for alerts (5)",
    "alert_for_s": "a travel-time condition must hold this long (600)",
    "alert_allowed_silence_s": "a detector silent longer is Bad (900)",
    "alert_backlog_s": "an agent's oldest unsent pass older than this: Warn (1800)",
    "alert_battery_v": "a battery under this voltage: Warn (11.5)",
    "alert_webhooks": "URLs that get each alert change as a JSON POST (repeat)",
    "profile_weeks": "normal profiles from this many weeks of windows (default 4)",
    "profile_every_s": "a profile is computed again after this many seconds (3600)",
    "profile_utc_offset_hours": "the clock of the profiles' weekday and 15-minute bins (0)",
    "backfill_s": "missing windows this far back are computed at once (3600); older "
                  "ones, over all retained data, in the background",
    "lock_ttl_s": "lease of the worker's locks: a dead worker's destinations move to "
                  "another worker after this many seconds (default 10)",
    "worker_id": "this worker's name in locks and windows (default HOST-PID)",
    "retention_days": "stored windows expire after this many days (default 365; 0 = never)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "worker",
        help="compute travel-time windows (several workers share the work)",
        description=(
            "Compute travel times per link and route and window, and store them in etcd.\n"
            "Each worker holds one etcd lock per destination detector, a fair share of them;\n"
            "a window is published grace seconds after it closes and recomputed when late\n"
            "passes land in it. Settings: defaults, the YAML --config file (a 'worker:'\n"
            "section), ROADSIDE_<SETTING> (e.g. ROADSIDE_WINDOW_S=300), then these flags."
        ),
        epilog=("example (a second worker beside a laptop central):\n"
                "  roadside central worker --worker-id second\n"
                "in production:\n"
                "  roadside central worker --etcd-endpoints 10.0.0.5:2379 --window-s 300"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_setting_flags(parser, TravelTimeConfig, OPTION_HELP)
    parser.set_defaults(func=run)


def worker_config(args: argparse.Namespace) -> TravelTimeConfig:
    flags = setting_flags(args, TravelTimeConfig)
    return load(TravelTimeConfig, args.config, flags=flags, section="worker", local=local_etcd())


def _serve_metrics(config: TravelTimeConfig, worker: TravelTimeWorker) -> MetricsServer | None:
    if not config.metrics:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FromFunction(lambda: worker_families(
        lambda: worker.published, lambda: worker.recomputed, lambda: worker.newest_end_ns)))
    try:
        served = MetricsServer(registry, config.metrics_host, config.metrics_port)
    except OSError as exc:
        raise RoadsideError(f"metrics_port: {config.metrics_host}:{config.metrics_port}: "
                            f"{exc.strerror or exc} (--metrics-port, 0 = any free port)") from exc
    log.info("metrics on http://%s:%d/metrics", config.metrics_host, served.port)
    return served


def run(args: argparse.Namespace) -> int:
    config = worker_config(args)
    return asyncio.run(_serve(config))


async def _serve(config: TravelTimeConfig) -> int:
    tls = etcd_tls(config.etcd_ca_file, config.etcd_cert_file, config.etcd_key_file,
                   laptop.pki_dir())
    client = await asyncio.to_thread(connect, list(config.etcd_endpoints), CALL_TIMEOUT_S, tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    shards = connect_shards(config.detection_shards, CALL_TIMEOUT_S, tls)
    worker = TravelTimeWorker(client, config,
                              shards=Shards(client, config.namespace, shards))
    served = _serve_metrics(config, worker)
    try:
        async with worker:
            await stop.wait()
            log.info("stopping: %d windows published", worker.published)
    finally:
        if served is not None:
            served.stop()
        client.close()
        for shard in shards.values():
            shard.close()
    return 0
