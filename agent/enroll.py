"""A box gets its certificate with a one-time token, and keeps it current.

Enrollment: the token (from `roadside pki token`) pins the site CA by its SHA-256. The box
reads the certificates central's enroll port presents, without trusting them, keeps the
one whose fingerprint is the pin, and only then talks TLS to central with that CA as its
only root: it makes its private key (which never leaves it), sends a CSR with the token,
and gets a certificate for exactly the token's detector id.

Renewal: once less than RENEW_FRACTION of its certificate's lifetime is left, the agent
sends a CSR for a new key over its current identity (mTLS) and swaps in the new pair.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import grpc.aio
from cryptography import x509

from roadside.agent.channel import channel_options
from roadside.agent.errors import AgentError
from roadside.common.files import write_atomic
from roadside.common.identity import IdentityError, key_pem, make_csr, new_key, parse_token
from roadside.proto.v1 import enroll_pb2, enroll_pb2_grpc

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 20.0
RENEW_FRACTION = 1 / 3  # renew when this much of the lifetime is left
CERT_FILE, KEY_FILE, CA_FILE = "detector.pem", "detector.key", "ca.pem"


class EnrollError(AgentError):
    """Enrollment failed; the message says why."""


@dataclass(frozen=True, slots=True)
class Enrolled:
    detector_id: str
    cert_file: Path
    key_file: Path
    ca_file: Path
    not_after: datetime


def _host_port(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EnrollError(f"enroll endpoint: expected HOST:PORT, got {endpoint!r}")
    return host.strip("[]"), int(port)


def pinned_ca(endpoint: str, pin: bytes) -> bytes:
    """The CA certificate (PEM) central presents on `endpoint` whose SHA-256 is `pin`."""
    host, port = _host_port(endpoint)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # nothing is trusted yet: the pin decides below
    try:
        with socket.create_connection((host, port), CONNECT_TIMEOUT_S) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            # Python 3.13 makes this public (SSLSocket.get_unverified_chain)
            chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
            ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    except OSError as exc:
        raise EnrollError(f"cannot reach central's enroll port {endpoint}: {exc}") from exc
    for der in ders:
        if hashlib.sha256(der).digest() == pin:
            return ssl.DER_cert_to_PEM_cert(der).encode()
    raise EnrollError(f"{endpoint} does not present the CA the token pins: not your "
                      "central, or a token of another site")


def enroll(token: str, endpoint: str, out_dir: Path) -> Enrolled:
    """Enroll with `token` at central's enroll port; write key (0600), cert and CA."""
    try:
        secret, pin = parse_token(token)
    except IdentityError as exc:
        raise EnrollError(str(exc)) from exc
    del secret  # the token goes to central as it is, over TLS to the pinned CA
    ca_pem = pinned_ca(endpoint, pin)
    key = new_key()
    request = enroll_pb2.EnrollRequest(token=token.strip(), csr_pem=make_csr(key, "roadside box"))
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    with grpc.secure_channel(endpoint, creds, options=channel_options()) as channel:
        stub = enroll_pb2_grpc.EnrollServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            answer = stub.Enroll(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise EnrollError(f"central refused the enrollment: {exc.details()}") from exc
    return _write(out_dir, answer, key_pem(key))


def _write(out_dir: Path, answer: enroll_pb2.EnrollResponse, key: bytes) -> Enrolled:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = Enrolled(answer.detector_id, out_dir / CERT_FILE, out_dir / KEY_FILE,
                     out_dir / CA_FILE, not_after(answer.cert_pem))
    write_atomic(files.key_file, key, 0o600)
    write_atomic(files.cert_file, answer.cert_pem, 0o644)
    write_atomic(files.ca_file, answer.ca_pem, 0o644)
    return files


def not_after(cert_pem: bytes) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def renewal_due(cert_file: Path, now: datetime | None = None) -> bool:
    """Whether less than RENEW_FRACTION of the certificate's lifetime is left."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    left = (end - (now or datetime.now(UTC))).total_seconds()
    return left < (end - start).total_seconds() * RENEW_FRACTION


async def renew(channel: grpc.aio.Channel, cert_file: Path, key_file: Path) -> datetime:
    """A new key and certificate for the current identity, swapped in; the new expiry."""
    key = new_key()
    stub = enroll_pb2_grpc.EnrollServiceStub(channel)  # type: ignore[no-untyped-call]
    answer = await stub.Renew(enroll_pb2.RenewRequest(csr_pem=make_csr(key, "roadside box")),
                              timeout=CALL_TIMEOUT_S)
    tmp_key = key_file.with_name(key_file.name + ".new")
    write_atomic(tmp_key, key_pem(key), 0o600)
    write_atomic(cert_file.with_name(cert_file.name + ".new"), answer.cert_pem, 0o644)
    os.replace(tmp_key, key_file)  # then the certificate: renewing again mends a crash
    os.replace(cert_file.with_name(cert_file.name + ".new"), cert_file)  # in between
    return not_after(answer.cert_pem)
