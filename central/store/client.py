"""The one way central builds an etcd client: several endpoints, failover, quick recovery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import etcd3
import grpc

from roadside.central.store.shards import parse_shards
from roadside.common import laptop

# cslab-etcd3 marks an endpoint failed after one error and avoids it for time_retry
# seconds; a plain client would then refuse every call for 300 s.
ENDPOINT_RETRY_S = 1.0
CALL_TIMEOUT_S = 5.0
# a range read of packed blocks (up to ~350 kB each at 5000 passes) is bounded by its key
# count (event_reads.CHUNK_KEYS: 100), not by gRPC's default 4 MiB reply limit
MAX_REPLY_BYTES = 64 * 1024 * 1024


def parse_endpoint(text: str) -> tuple[str, int]:
    """'host:port', 'http://host:port' or 'host' (port 2379) -> (host, port)."""
    rest = text.strip()
    for scheme in ("http://", "https://"):
        if rest.startswith(scheme):
            rest = rest[len(scheme):]
    rest = rest.rstrip("/")
    if not rest:
        raise ValueError(f"empty etcd endpoint {text!r}")
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, 2379
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in etcd endpoint {text!r}")
    return host.strip("[]"), int(port)


def tls_files(ca: Path | None, cert: Path | None, key: Path | None,
              ) -> tuple[bytes, bytes, bytes] | None:
    """(CA, certificate, key) PEM bytes for an etcd client, or None when no CA is set."""
    if ca is None:
        return None
    if cert is None or key is None:
        raise ValueError("etcd TLS: give etcd_ca_file, etcd_cert_file and etcd_key_file")
    return ca.read_bytes(), cert.read_bytes(), key.read_bytes()


def etcd_tls(ca: Path | None, cert: Path | None, key: Path | None, pki_dir: Path,
             ) -> tuple[bytes, bytes, bytes] | None:
    """etcd client TLS from these settings; when none is set, the embedded etcd's client
    certificate that a laptop central made in `pki_dir`, if it is there."""
    if ca is None and cert is None:
        found = laptop.tls_triple("etcd-client", pki_dir)
        if found is not None:
            ca, cert, key = found
    return tls_files(ca, cert, key)


def connect_shards(
    entries: Sequence[str], timeout: float = CALL_TIMEOUT_S,
    tls: tuple[bytes, bytes, bytes] | None = None,
) -> dict[str, etcd3.MultiEndpointEtcd3Client]:
    """A client per detection shard (`detection_shards` entries), with the control etcd's
    TLS; the caller closes them."""
    return {name: connect(endpoints, timeout, tls)
            for name, endpoints in parse_shards(entries).items()}


def connect(
    endpoints: Sequence[str], timeout: float = CALL_TIMEOUT_S,
    tls: tuple[bytes, bytes, bytes] | None = None,
) -> etcd3.MultiEndpointEtcd3Client:
    """A client of these endpoints; with `tls` (CA, certificate, key) over TLS with that
    client certificate (etcd takes its CN as the user when auth is on)."""
    if not endpoints:
        raise ValueError("no etcd endpoints")
    creds = None if tls is None else grpc.ssl_channel_credentials(tls[0], tls[2], tls[1])
    eps = [
        etcd3.Endpoint(host, port, secure=creds is not None, creds=creds,
                       time_retry=ENDPOINT_RETRY_S,
                       opts=[("grpc.max_receive_message_length", MAX_REPLY_BYTES)])
        for host, port in map(parse_endpoint, endpoints)
    ]
    return etcd3.MultiEndpointEtcd3Client(endpoints=eps, timeout=timeout, failover=True)
