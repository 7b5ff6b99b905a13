"""The one way central builds an etcd client: several endpoints, failover, quick recovery."""

from __future__ import annotations

from collections.abc import Sequence

import etcd3

# cslab-etcd3 marks an endpoint failed after one error and avoids it for time_retry
# seconds; a plain client would then refuse every call for 300 s.
ENDPOINT_RETRY_S = 1.0
CALL_TIMEOUT_S = 5.0


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


def connect(
    endpoints: Sequence[str], timeout: float = CALL_TIMEOUT_S
) -> etcd3.MultiEndpointEtcd3Client:
    if not endpoints:
        raise ValueError("no etcd endpoints")
    eps = [
        etcd3.Endpoint(host, port, secure=False, time_retry=ENDPOINT_RETRY_S)
        for host, port in map(parse_endpoint, endpoints)
    ]
    return etcd3.MultiEndpointEtcd3Client(endpoints=eps, timeout=timeout, failover=True)
