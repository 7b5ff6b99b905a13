"""The HTTP service in a thread of `central serve` (uvicorn), HTTPS with central's certificate
unless insecure. Also usable on its own against etcd (`roadside central http`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from roadside.central.config import CentralConfig
from roadside.central.errors import CentralError, PortInUse
from roadside.central.http.apikeys import ApiKeys
from roadside.central.http.app import make_app
from roadside.central.http.feeds import Feeds
from roadside.central.pki.registry import RevocationList
from roadside.central.store.etcd_store import EtcdStore

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def tls_files(config: CentralConfig) -> tuple[Path, Path] | None:
    """(certificate, key) of central's HTTPS: its configured files, else pki_dir's."""
    if config.insecure:
        return None
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        return config.tls_cert_file, config.tls_key_file
    return config.pki_path / "central.pem", config.pki_path / "central.key"


class PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol that hands the app the TLS client's certificate (DER) in
    scope["extensions"]["tls"]["client_cert_der"]; uvicorn itself does not."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            inner = self.app

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}
                await inner(scope, receive, send)

            self.app = app


class HttpServer:
    """start() binds and serves in a thread; stop() ends it (safe twice)."""

    def __init__(self, config: CentralConfig, store: EtcdStore) -> None:
        self.config = config
        feeds = Feeds(store, config.allowed_silence_s, config.clock_offset_max_s,
                      config.archive_dir)
        self.revocations = None if config.insecure else RevocationList(store.client,
                                                                       store.namespace)
        self.app = make_app(feeds, ApiKeys(store.client, store.namespace),
                            config.http_open_data, config.http_country,
                            self.revocations.revoked if self.revocations else None,
                            config.http_map_tiles, config.http_map_attribution,
                            config.http_time_zone, config.http_map_style)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.config.insecure else "https"

    def start(self) -> None:
        config = self.config
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((config.host, config.http_port))
        except OSError as exc:
            sock.close()
            raise PortInUse(config.host, config.http_port, "http_port") from exc
        self.port = sock.getsockname()[1]
        files = tls_files(config)
        tls: dict[str, Any] = {}
        if files is not None:  # a client certificate of the site CA is optional: or a key
            ca = config.tls_client_ca_file or config.pki_path / "ca.pem"
            tls = {"ssl_certfile": str(files[0]), "ssl_keyfile": str(files[1]),
                   "ssl_ca_certs": str(ca), "ssl_cert_reqs": ssl.CERT_OPTIONAL,
                   "http": PeerCertProtocol}
            assert self.revocations is not None
            self.revocations.start()
        server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", **tls))
        self._server = server
        self._thread = threading.Thread(target=self._run, args=(server, sock),
                                        name="central-http", daemon=True)
        self._thread.start()
        ready = threading.Event()
        while not server.started and self._thread.is_alive():
            ready.wait(0.02)
        if not server.started:
            raise CentralError(f"HTTP service on {config.host}:{self.port} did not start")
        log.info("HTTP feeds on %s://%s:%d (open data: %s)", self.scheme,
                 "127.0.0.1" if config.host in ("0.0.0.0", "") else config.host, self.port,
                 "on" if config.http_open_data else "off")

    @staticmethod
    def _run(server: uvicorn.Server, sock: socket.socket) -> None:
        asyncio.run(server.serve(sockets=[sock]))

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if self.revocations is not None:
            self.revocations.stop()
