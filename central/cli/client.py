"""What the operators' commands share: where central is, one channel, one-line errors.

Settings: defaults < YAML file (--config, section "client") < ROADSIDE_QUERY_HOST,
ROADSIDE_COLLECTOR_HOST, ROADSIDE_CALL_TIMEOUT_S, ROADSIDE_TLS_CA_FILE, ROADSIDE_TLS_CERT_FILE,
ROADSIDE_TLS_KEY_FILE, ROADSIDE_INSECURE < flags.

TLS: the operator's certificate of the site PKI (tls_cert_file + tls_key_file) and the
site CA (tls_ca_file). When none is set, the admin certificate `serve` makes on a laptop
(DATA_DIR/pki/operator-admin.pem) is used if it is there, else the command stops with a
message; `insecure` talks plaintext to a central started with --insecure.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from roadside.common import laptop
from roadside.common.config_layers import load
from roadside.common.errors import RoadsideError
from roadside.common.files import read_file
from roadside.common.tlsprobe import diagnose
from roadside.proto.v1 import collector_pb2_grpc, query_pb2_grpc

DEFAULT_QUERY_HOST = "127.0.0.1:8000"
DEFAULT_COLLECTOR_HOST = "127.0.0.1:9000"
CALL_TIMEOUT_S = 10.0  # deadline of every unary call


class CentralCallError(RoadsideError):
    """A call to central failed; the message is one line naming the problem."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    query_host: str = DEFAULT_QUERY_HOST  # central's query server, HOST:PORT
    collector_host: str = DEFAULT_COLLECTOR_HOST  # central's collector server, HOST:PORT
    call_timeout_s: float = CALL_TIMEOUT_S  # deadline of each call (not of live tails)
    tls_ca_file: Path | None = None  # the site CA (default: a laptop central's, if there)
    tls_cert_file: Path | None = None  # the operator's certificate of the site PKI
    tls_key_file: Path | None = None
    insecure: bool = False  # plaintext, to a central started with --insecure

    def __post_init__(self) -> None:
        for name in ("query_host", "collector_host"):
            host, sep, port = getattr(self, name).rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{name}: expected HOST:PORT, got {getattr(self, name)!r}")
            if not 0 < int(port) < 65536:
                raise ValueError(f"{name}: port {port} is not a TCP port (1..65535)")
        if self.call_timeout_s <= 0:
            raise ValueError(f"call_timeout_s: must be positive, got {self.call_timeout_s}")


def add_client_options(parser: argparse.ArgumentParser, collector: bool = False) -> None:
    """--query-host (or --collector-host), --timeout and --config on a sub-command."""
    if collector:
        parser.add_argument(
            "--collector-host", metavar="HOST:PORT",
            help=f"collector (env ROADSIDE_COLLECTOR_HOST; default {DEFAULT_COLLECTOR_HOST})",
        )
    else:
        parser.add_argument(
            "--query-host", metavar="HOST:PORT",
            help=f"central's query server (env ROADSIDE_QUERY_HOST; default {DEFAULT_QUERY_HOST})",
        )
    parser.add_argument(
        "--timeout", dest="call_timeout_s", type=float, metavar="SECONDS",
        help=f"deadline of each call (default {CALL_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML settings file (section 'client')"
    )
    parser.add_argument("--tls-ca-file", type=Path, metavar="PEM",
                        help="the site CA (env ROADSIDE_TLS_CA_FILE)")
    parser.add_argument("--tls-cert-file", type=Path, metavar="PEM",
                        help="your operator certificate (env ROADSIDE_TLS_CERT_FILE)")
    parser.add_argument("--tls-key-file", type=Path, metavar="PEM",
                        help="its private key (env ROADSIDE_TLS_KEY_FILE)")
    parser.add_argument("--insecure", action="store_true", default=None,
                        help="plaintext, to a central started with --insecure")


def client_config(args: argparse.Namespace) -> ClientConfig:
    flags = {
        name: getattr(args, name, None)
        for name in ("query_host", "collector_host", "call_timeout_s", "tls_ca_file",
                     "tls_cert_file", "tls_key_file", "insecure")
    }
    found = laptop.addresses()  # a laptop central on other ports than the defaults
    local = {name: found[key] for name, key in (("query_host", "query"),
                                                ("collector_host", "collector")) if key in found}
    return load(ClientConfig, file=args.config, flags=flags, section="client", local=local)


def tls_paths(config: ClientConfig, role: str = "admin") -> tuple[Path, Path, Path] | None:
    """The CA, certificate and key a call uses: the config's, or a laptop central's
    certificate of `role` (admin for changes, analyst for per-device reads; either for the
    rest); None: plaintext (`insecure`); CentralCallError when there is neither."""
    if config.insecure:
        return None
    ca, cert, key = config.tls_ca_file, config.tls_cert_file, config.tls_key_file
    if ca is None and cert is None:
        found = laptop.tls_triple(f"operator-{role}")
        if found is None:
            raise CentralCallError(
                "no TLS settings: give tls_ca_file, tls_cert_file and tls_key_file (flags, "
                "ROADSIDE_TLS_* or the config's client: section), or --insecure for a "
                f"central started with --insecure (no laptop central's certificates in "
                f"{laptop.pki_dir()})")
        return found
    if ca is None or cert is None or key is None:
        raise CentralCallError("TLS: give tls_ca_file, tls_cert_file and tls_key_file "
                               "together (or --insecure)")
    return ca, cert, key


def credentials(config: ClientConfig, role: str = "admin") -> grpc.ChannelCredentials | None:
    """mTLS per tls_paths, None for plaintext."""
    paths = tls_paths(config, role)
    if paths is None:
        return None
    ca, cert, key = paths
    return grpc.ssl_channel_credentials(
        root_certificates=read_file(ca, "tls_ca_file", CentralCallError),
        private_key=read_file(key, "tls_key_file", CentralCallError),
        certificate_chain=read_file(cert, "tls_cert_file", CentralCallError),
    )


@contextlib.contextmanager
def channel_to(host: str, config: ClientConfig | None = None, role: str = "admin",
               ) -> Iterator[grpc.Channel]:
    creds = credentials(config, role) if config is not None else None
    channel = (grpc.insecure_channel(host) if creds is None
               else grpc.secure_channel(host, creds))
    try:
        yield channel
    finally:
        channel.close()


@contextlib.contextmanager
def calls_to(host: str, config: ClientConfig | None = None, role: str = "admin",
             ) -> Iterator[None]:
    """gRPC errors inside -> CentralCallError, one line naming host and problem; a channel
    that never opened is probed for its cause (the TLS settings) when `config` is given."""
    try:
        yield
    except grpc.RpcError as exc:
        message = describe(exc, host)
        if config is not None and message == unreachable(host):
            paths = tls_paths(config, role)
            ca, cert, key = paths if paths is not None else (None, None, None)
            message = diagnose(host, ca, cert, key, paths is None) or message
        raise CentralCallError(message) from None


@contextlib.contextmanager
def query_stub(config: ClientConfig, role: str = "admin") -> Iterator[Any]:
    """A roadside.v1 QueryService stub to the query host; errors become CentralCallError.
    `role`: which of a laptop's operator certificates to use when none is configured."""
    host = config.query_host
    with channel_to(host, config, role) as channel, calls_to(host, config, role):
        yield query_pb2_grpc.QueryServiceStub(channel)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def collector_stub(config: ClientConfig) -> Iterator[Any]:
    """A roadside.v1 CollectorService stub to the collector; errors become CentralCallError."""
    host = config.collector_host
    with channel_to(host, config) as channel, calls_to(host, config):
        yield collector_pb2_grpc.CollectorServiceStub(channel)  # type: ignore[no-untyped-call]


def unreachable(host: str) -> str:
    return f"central unreachable at {host}"


def describe(exc: grpc.RpcError, host: str) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else ""
    if code == grpc.StatusCode.UNAVAILABLE:
        if "etcd" in str(details) or "shutting down" in str(details):  # central answered
            return f"central at {host}: {details}"
        return unreachable(host)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"central at {host} did not answer in time"
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return str(details)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return f"central at {host} does not serve this call (is it the query server?)"
    name = code.name if code is not None else "error"
    return f"central at {host}: {name}: {details}"
