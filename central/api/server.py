"""Builds and runs central: etcd (given or embedded), the store, three gRPC servers and,
when asked (by default with the embedded etcd), a travel-time worker in-process.

    collector port   roadside.v1.CollectorService, collector.CollectorService,
                     roadside.v1.EnrollService (Renew)            mTLS
    query port       roadside.v1.QueryService, query.QueryService  mTLS
    enroll port      roadside.v1.EnrollService (Enroll)            TLS, no client certificate
    health port      grpc.health.v1.Health                         plaintext, for probes
All also serve grpc.health.v1; reflection only with `insecure` (development). Every call
is checked against the role table (api/security.py, api/authz.py). Servers are thread-pool
gRPC servers because the etcd client is blocking.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import etcd3
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from roadside.central import metrics
from roadside.central.api.collector import CollectorServicer
from roadside.central.api.enroll import EnrollServicer
from roadside.central.api.handlers import StreamSlots, add_servicer
from roadside.central.api.health import HealthMonitor
from roadside.central.api.legacy_collector import LegacyCollectorServicer
from roadside.central.api.legacy_query import LegacyQueryServicer
from roadside.central.api.query import QueryServicer
from roadside.central.api.security import Security, check_insecure, secure, site_ca
from roadside.central.api.validation import Limits
from roadside.central.config import CentralConfig
from roadside.central.errors import CentralError, PortInUse
from roadside.central.http.server import HttpServer
from roadside.central.metrics import CentralMetrics
from roadside.central.pki.etcd import enable_auth, etcd_files
from roadside.central.store.archive_export import Archiver
from roadside.central.store.client import connect, connect_shards, tls_files
from roadside.central.store.compaction import Compactor
from roadside.central.store.etcd_process import EtcdProcess, EtcdProcessError, EtcdTls
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.traveltime.archiver import WindowArchiver
from roadside.central.traveltime.in_serve import WorkerThread, serve_worker_config
from roadside.common.metrics import MetricsServer
from roadside.proto.collector import collector_pb2 as legacy_collector_pb2
from roadside.proto.query import query_pb2 as legacy_query_pb2
from roadside.proto.v1 import collector_pb2, enroll_pb2, query_pb2

log = logging.getLogger(__name__)

COLLECTOR = collector_pb2.DESCRIPTOR.services_by_name["CollectorService"]
LEGACY_COLLECTOR = legacy_collector_pb2.DESCRIPTOR.services_by_name["CollectorService"]
QUERY = query_pb2.DESCRIPTOR.services_by_name["QueryService"]
ENROLL = enroll_pb2.DESCRIPTOR.services_by_name["EnrollService"]
LEGACY_QUERY = legacy_query_pb2.DESCRIPTOR.services_by_name["QueryService"]
COLLECTOR_SERVICES = (COLLECTOR.full_name, LEGACY_COLLECTOR.full_name)
QUERY_SERVICES = (QUERY.full_name, LEGACY_QUERY.full_name)
# gRPC itself refuses (RESOURCE_EXHAUSTED) requests this much over max_message_bytes; the
# edge refuses those in between with INVALID_ARGUMENT naming the size
TRANSPORT_LIMIT_FACTOR = 1.5
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


def _client_host(host: str) -> str:
    """Where a local client reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


@dataclass
class RunningCentral:
    """A started central; `stop()` drains calls, stops servers, the in-process travel-time
    worker and any embedded etcd."""

    config: CentralConfig
    store: EtcdStore
    health: HealthMonitor
    collector_port: int
    query_port: int
    health_port: int
    etcd_endpoints: tuple[str, ...]
    _client: etcd3.MultiEndpointEtcd3Client
    security: Security | None = None
    enroll_port: int = 0  # 0: no enroll port (insecure)
    _servers: list[grpc.Server] = field(default_factory=list)
    _streams: list[StreamSlots] = field(default_factory=list)
    _etcd: EtcdProcess | None = None
    _worker: WorkerThread | None = None  # the in-process travel-time worker, if any
    _archiver: Archiver | None = None  # exports closed days when archive_dir is set
    _window_archiver: WindowArchiver | None = None  # moves old windows out of etcd
    _compactor: Compactor | None = None  # merges closed buckets' blocks
    _http: HttpServer | None = None  # the HTTP feeds, if served
    metrics: CentralMetrics = field(default_factory=CentralMetrics)
    _metrics_server: MetricsServer | None = None
    _stopped: bool = False

    @property
    def collector_addr(self) -> str:
        return f"{_client_host(self.config.host)}:{self.collector_port}"

    @property
    def query_addr(self) -> str:
        return f"{_client_host(self.config.host)}:{self.query_port}"

    @property
    def enroll_addr(self) -> str:
        return f"{_client_host(self.config.host)}:{self.enroll_port}"

    @property
    def http_url(self) -> str:
        """The HTTP feeds' base URL ("" when not served)."""
        if self._http is None:
            return ""
        return f"{self._http.scheme}://{_client_host(self.config.host)}:{self._http.port}"

    @property
    def health_addr(self) -> str:
        return f"{_client_host(self.config.host)}:{self.health_port}"

    @property
    def etcd(self) -> EtcdProcess | None:
        """The embedded etcd child, when central started one."""
        return self._etcd

    @property
    def worker(self) -> WorkerThread | None:
        """The in-process travel-time worker, when central runs one."""
        return self._worker

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish within `grace` s; safe twice."""
        if self._stopped:
            return
        self._stopped = True
        wait_s = self.config.grace_s if grace is None else grace
        self.health.stop()
        if self._http is not None:
            self._http.stop()
        if self._metrics_server is not None:
            self._metrics_server.stop()
        for slots in self._streams:  # open streams (a tail, a follow) end now
            slots.close()
        events = [server.stop(wait_s) for server in self._servers]
        for event in events:
            event.wait()
        if self._worker is not None:
            self._worker.stop()
        if self._archiver is not None:
            self._archiver.stop()
        if self._window_archiver is not None:
            self._window_archiver.stop()
        if self._compactor is not None:
            self._compactor.stop()
        if self.security is not None:
            self.security.stop()
        self.store.close()
        self._client.close()
        for shard in self.store.shards.clients.values():
            shard.close()
        if self._etcd is not None:
            self._etcd.stop()
        log.info("central stopped")

    def wait(self) -> None:
        """Block until the servers have stopped."""
        for server in self._servers:
            server.wait_for_termination()


def _server(config: CentralConfig, name: str) -> grpc.Server:
    options = [
        ("grpc.max_receive_message_length",
         int(TRANSPORT_LIMIT_FACTOR * config.max_message_bytes)),
        ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared port
    ]
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix=f"central-{name}")
    # calls beyond max_concurrent_rpcs (running or queued) get RESOURCE_EXHAUSTED at once
    return grpc.server(pool, options=options, maximum_concurrent_rpcs=config.max_concurrent_rpcs)


def _bind(
    server: grpc.Server, host: str, port: int, what: str, tls: grpc.ServerCredentials | None
) -> int:
    address = f"{host}:{port}"
    try:
        if tls is None:
            bound = int(server.add_insecure_port(address))
        else:
            bound = int(server.add_secure_port(address, tls))
    except RuntimeError as exc:
        raise CentralError(f"cannot listen on {host}:{port} ({what})") from exc
    if bound == 0:
        raise CentralError(f"cannot listen on {host}:{port} ({what})")
    return bound


def start_central(config: CentralConfig, config_file: str | Path | None = None,
                  serving: Callable[[RunningCentral], None] | None = None) -> RunningCentral:
    """Start everything `config` asks for; raise CentralError (nothing left running) on failure.

    `config_file` is the YAML file whose `worker:` section configures the in-process
    travel-time worker (when `config.runs_worker`). `serving` runs once everything serves,
    before the "central serving" line that watchers wait for.
    """
    check_insecure(config)  # before anything starts
    _check_ports_free(config)
    etcd_tls, client_files = None, (config.etcd_ca_file, config.etcd_cert_file,
                                    config.etcd_key_file)
    ca = None if config.insecure else site_ca(config)
    if ca is not None and not config.etcd_endpoints:  # the embedded etcd: TLS and auth
        try:
            etcd_tls, cert, key = etcd_files(ca, ca.directory)
        except OSError as exc:
            raise CentralError(f"embedded etcd's certificates in {ca.directory}: {exc}") \
                from exc
        client_files = (etcd_tls.ca, cert, key)
    etcd_proc = None if config.etcd_endpoints else _embedded_etcd(config, etcd_tls)
    endpoints = (etcd_proc.endpoint,) if etcd_proc is not None else tuple(config.etcd_endpoints)
    worker = None
    if config.runs_worker:  # its settings are checked before anything starts
        worker = WorkerThread(serve_worker_config(config_file, config.namespace, endpoints,
                                                  client_files, config.detection_shards))
    if etcd_proc is not None:
        try:
            etcd_proc.start()
        except (EtcdProcessError, OSError) as exc:
            raise CentralError(f"embedded etcd in {config.data_dir}: {exc}") from exc
        log.info(
            "embedded etcd on %s (setting embedded_etcd_port: serve fails rather than move "
            "when it is taken; data in %s): other commands reach it there, e.g. "
            "roadside central worker --etcd-endpoints %s",
            etcd_proc.endpoint, config.data_dir, etcd_proc.endpoint,
        )
    try:
        if etcd_proc is not None and etcd_tls is not None:
            root = connect(endpoints, timeout=config.etcd_timeout_s, tls=etcd_proc.client_tls())
            try:
                enable_auth(root, config.namespace)
            finally:
                root.close()
        client = connect(endpoints, timeout=config.etcd_timeout_s, tls=tls_files(*client_files))
        shard_clients = connect_shards(config.detection_shards, config.etcd_timeout_s,
                                       tls_files(*client_files))
    except (ValueError, OSError, grpc.RpcError) as exc:
        if etcd_proc is not None:
            etcd_proc.stop()
        raise CentralError(f"etcd endpoints: {exc}") from exc
    store = EtcdStore(client, config.namespace, config.retention_days,
                      status_history_max=config.status_history_max)
    store.use_shards(shard_clients)
    monitor = HealthMonitor(store, (*COLLECTOR_SERVICES, *QUERY_SERVICES), config.health_poll_s)
    central = RunningCentral(config, store, monitor, 0, 0, 0, endpoints, client, _etcd=etcd_proc)
    try:
        store.shards.check_site()
        central.security = secure(config, client, etcd_proc is not None, _auditor(store), ca)
        _start_servers(central, config, store, monitor)
        if config.http:
            central._http = HttpServer(config, store)
            central._http.start()
        if worker is not None:
            central._worker = worker
            worker.start()
        if config.archive_dir is not None:
            central._archiver = Archiver(store, config.archive_dir, config.archive_interval_s)
            central._archiver.start()
            if config.windows_hot_days > 0:
                central._window_archiver = WindowArchiver(
                    store, config.archive_dir, config.windows_hot_days,
                    config.archive_interval_s)
                central._window_archiver.start()
        if config.compact_after_s > 0:
            central._compactor = Compactor(store, config.compact_after_s)
            central._compactor.start()
        _serve_metrics(central)
        if serving is not None:
            serving(central)
    except BaseException:
        central.stop(0)
        raise
    _log_worker(worker)
    log.info(
        "central serving: collector %s, query %s, health %s; etcd %s, namespace %s",
        central.collector_addr, central.query_addr, central.health_addr,
        ",".join(endpoints), config.namespace,
    )
    return central


def _serve_metrics(central: RunningCentral) -> None:
    """Prometheus metrics on metrics_host:metrics_port: calls, passes, streams, health and
    the in-process worker's figures."""
    config, m = central.config, central.metrics
    names = ("collector", "query")
    m.add(lambda: metrics.streams_family(
        {name: slots.open_streams for name, slots in zip(names, central._streams, strict=False)}))
    m.add(lambda: metrics.health_family(lambda: central.health.serving))
    m.add(lambda: metrics.shards_family(central.health.shards))
    thread = central._worker
    if thread is not None:
        def worker() -> Any:
            w = thread.worker
            if w is None:
                return iter(())
            return metrics.worker_families(lambda: w.published, lambda: w.recomputed,
                                           lambda: w.newest_end_ns)
        m.add(worker)
    if not config.metrics:
        return
    try:
        central._metrics_server = MetricsServer(m.registry, config.metrics_host,
                                                config.metrics_port)
    except OSError as exc:
        raise PortInUse(config.metrics_host, config.metrics_port, "metrics_port") from exc
    log.info("metrics on http://%s:%d/metrics", _client_host(config.metrics_host),
             central._metrics_server.port)


def _log_worker(worker: WorkerThread | None) -> None:
    if worker is None:
        log.info("no travel-time worker in this process (setting worker: off): "
                 "run roadside central worker")
        return
    w = worker.config
    log.info("travel-time worker in this process (setting worker: on): window %d s, "
             "grace %g s, k %d (settings: the YAML worker: section, ROADSIDE_WORKER_*)",
             w.window_s, w.grace_s, w.k)


def _embedded_etcd(config: CentralConfig, tls: EtcdTls | None) -> EtcdProcess:
    """The embedded etcd, not started yet (its fixed ports: _check_ports_free)."""
    try:
        return EtcdProcess(
            config.data_dir,
            client_port=config.embedded_etcd_port or None,
            peer_port=config.embedded_etcd_peer_port or None,
            quota_bytes=config.etcd_quota_bytes or None,
            tls=tls,
        )
    except (EtcdProcessError, OSError) as exc:
        raise CentralError(f"embedded etcd in {config.data_dir}: {exc}") from exc


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind `host`:`port` (as etcd and gRPC do, SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError:
        return True  # a bad host: the bind itself says so
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                return False
    return True


def _check_ports_free(config: CentralConfig) -> None:
    """A fixed server or embedded etcd port already taken: one line naming the setting,
    before anything starts or is set up (gRPC's own bind failure would also print a C-core
    log line)."""
    settings = [(s, config.host) for s in ("collector_port", "query_port", "health_port")]
    if config.http:
        settings.append(("http_port", config.host))
    if config.metrics:
        settings.append(("metrics_port", config.metrics_host))
    if not config.insecure:
        settings.append(("enroll_port", config.host))
    for setting, host in settings:
        port = getattr(config, setting)
        if port and not _port_free(port, host):
            raise PortInUse(host, port, setting)
    if config.etcd_endpoints:
        return
    for setting in ("embedded_etcd_port", "embedded_etcd_peer_port"):
        port = getattr(config, setting)
        if port and not _port_free(port):
            raise CentralError(
                f"embedded etcd: 127.0.0.1:{port} is in use; set {setting} "
                f"(--{setting.replace('_', '-')}, 0 = any free port), or etcd_endpoints "
                "to use the etcd listening there"
            )


def _auditor(store: EtcdStore) -> Any:
    def audit(who: Any, method: str, what: str) -> None:
        store.put_audit(str(who), method, what)

    return audit


def _start_servers(
    central: RunningCentral, config: CentralConfig, store: EtcdStore, monitor: HealthMonitor
) -> None:
    limits = Limits(
        config.retention_s, config.clock_skew_s, config.max_batch_passes,
        config.max_message_bytes, config.status_max_bytes, config.ingest_passes_per_minute,
        config.ingest_burst_passes, config.status_reports_per_minute,
    )

    collector = _server(config, "collector")
    collector_slots = StreamSlots(config.stream_slots)
    central._streams.append(collector_slots)
    most = config.max_message_bytes
    guard = central.security.guard if central.security is not None else None
    assert guard is not None
    count = central.metrics.call
    stored = central.metrics.stored
    add_servicer(collector, COLLECTOR, CollectorServicer(store, limits, on_stored=stored),
                 collector_slots, most, guard, count)
    add_servicer(collector, LEGACY_COLLECTOR,
                 LegacyCollectorServicer(store, limits, on_stored=stored), collector_slots,
                 most, guard, count)

    query = _server(config, "query")
    query_slots = StreamSlots(config.stream_slots)
    central._streams.append(query_slots)
    servicer = QueryServicer(store, config.follow_backlog_events, config.archive_dir,
                             config.clock_offset_max_s)
    add_servicer(query, QUERY, servicer, query_slots, most, guard, count)
    add_servicer(query, LEGACY_QUERY, LegacyQueryServicer(store, config.archive_dir),
                 query_slots, most, guard, count)

    health_only = _server(config, "health")
    sec = central.security
    assert sec is not None
    tls = sec.ports
    plan = [
        (collector, COLLECTOR_SERVICES, config.collector_port, "collector", tls),
        (query, QUERY_SERVICES, config.query_port, "query", tls),
        (health_only, (), config.health_port, "health", None),  # plain: for probes
    ]
    if sec.ca is not None and sec.registry is not None:
        enroll = EnrollServicer(sec.ca, sec.registry, sec.guard)
        add_servicer(collector, ENROLL, enroll, collector_slots, most, sec.guard)  # Renew
        enroll_server = _server(config, "enroll")
        add_servicer(enroll_server, ENROLL, enroll, StreamSlots(1), most, sec.guard)
        plan.append((enroll_server, (ENROLL.full_name,), config.enroll_port, "enroll",
                     sec.enroll))
    ports = []
    for server, services, port, what, creds in plan:
        health_pb2_grpc.add_HealthServicer_to_server(monitor.servicer, server)
        if config.insecure:
            reflection.enable_server_reflection(
                (*services, HEALTH_SERVICE, reflection.SERVICE_NAME), server
            )
        ports.append(_bind(server, config.host, port, what, creds))
        central._servers.append(server)
    central.collector_port, central.query_port, central.health_port = ports[:3]
    if len(ports) > 3:
        central.enroll_port = ports[3]
    monitor.start()
    for server in central._servers:
        server.start()
