"""What the operators' commands share: where central is, one channel, one-line errors.

Settings: defaults < YAML file (--config, section "client") < ROADSIDE_QUERY_HOST,
ROADSIDE_COLLECTOR_HOST, ROADSIDE_CALL_TIMEOUT_S < flags.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from roadside.common.config_layers import load
from roadside.common.errors import RoadsideError
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

    def __post_init__(self) -> None:
        for name in ("query_host", "collector_host"):
            host, sep, port = getattr(self, name).rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{name}: expected HOST:PORT, got {getattr(self, name)!r}")
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


def client_config(args: argparse.Namespace) -> ClientConfig:
    flags = {
        name: getattr(args, name, None)
        for name in ("query_host", "collector_host", "call_timeout_s")
    }
    return load(ClientConfig, file=args.config, flags=flags, section="client")


@contextlib.contextmanager
def channel_to(host: str) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(host)
    try:
        yield channel
    finally:
        channel.close()


@contextlib.contextmanager
def calls_to(host: str) -> Iterator[None]:
    """gRPC errors inside -> CentralCallError, one line naming host and problem."""
    try:
        yield
    except grpc.RpcError as exc:
        raise CentralCallError(describe(exc, host)) from None


@contextlib.contextmanager
def query_stub(host: str) -> Iterator[Any]:
    """A roadside.v1 QueryService stub to `host`; its errors become CentralCallError."""
    with channel_to(host) as channel, calls_to(host):
        yield query_pb2_grpc.QueryServiceStub(channel)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def collector_stub(host: str) -> Iterator[Any]:
    """A roadside.v1 CollectorService stub to `host`; its errors become CentralCallError."""
    with channel_to(host) as channel, calls_to(host):
        yield collector_pb2_grpc.CollectorServiceStub(channel)  # type: ignore[no-untyped-call]


def describe(exc: grpc.RpcError, host: str) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else ""
    if code == grpc.StatusCode.UNAVAILABLE:
        if "etcd" in str(details):  # central answered: its store is down
            return f"central at {host}: {details}"
        return f"central unreachable at {host}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"central at {host} did not answer in time"
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        return str(details)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return f"central at {host} does not serve this call (is it the query server?)"
    name = code.name if code is not None else "error"
    return f"central at {host}: {name}: {details}"
