"""Why a TLS channel to central fails, in one line that names the setting to fix.

gRPC reports every failed handshake as UNAVAILABLE ("unreachable"); when that happens the
caller asks `diagnose`, which checks the files and then talks TLS to the endpoint itself:
nothing listening, plaintext against TLS and TLS against plaintext, the wrong site CA, a
key that is not the certificate's, an expired certificate, a certificate central refuses.
"""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path

PROBE_TIMEOUT_S = 3.0
ALPN = ["h2"]


def diagnose(endpoint: str, ca: Path | None, cert: Path | None, key: Path | None,
             insecure: bool, prefix: str = "tls_") -> str | None:
    """One line naming the cause, or None when the probe finds none (nothing answers there,
    or the endpoint agrees to talk and the failure lies elsewhere). `prefix` names the settings
    as the caller's user knows them (tls_ca_file, ...)."""
    if not insecure:
        problem = _files(ca, cert, key, prefix)
        if problem:
            return problem
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    try:
        sock = socket.create_connection((host, int(port)), PROBE_TIMEOUT_S)
    except (OSError, ValueError):
        return None  # nothing answers: "unreachable" is the truth
    server_cert = _server_certificate(sock, host)
    if insecure:
        if server_cert is not None:
            return (f"central at {endpoint} speaks TLS, this call was plaintext (--insecure): "
                    f"drop --insecure and give {prefix}ca_file, {prefix}cert_file and "
                    f"{prefix}key_file")
        return None
    if server_cert is None:
        return (f"central at {endpoint} speaks plaintext (started with --insecure): give "
                "--insecure (setting insecure), or start central with TLS")
    assert ca is not None  # _files said so
    if not issued_by(server_cert, ca):
        return (f"central's certificate at {endpoint} is not from the site CA in "
                f"{prefix}ca_file {ca}: the wrong CA file")
    if cert is not None and key is not None:
        refused = _client_refused(host, int(port), ca, cert, key)
        if refused:
            return (f"central at {endpoint} refused the certificate in {prefix}cert_file "
                    f"{cert} ({refused}): is it from this site's CA?")
    return None


def _files(ca: Path | None, cert: Path | None, key: Path | None, prefix: str) -> str | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if ca is None:
        return f"no {prefix}ca_file: TLS needs the site CA"
    try:
        x509.load_pem_x509_certificate(ca.read_bytes())
    except (OSError, ValueError) as exc:
        return f"{prefix}ca_file {ca}: not a readable PEM certificate ({exc})"
    if cert is None or key is None:
        return None
    try:
        mine = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError) as exc:
        return f"{prefix}cert_file {cert}: not a readable PEM certificate ({exc})"
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        return f"{prefix}key_file {key}: not a readable PEM private key ({exc})"
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*raw) != mine.public_key().public_bytes(*raw):
        return (f"{prefix}key_file {key} is not the key of {prefix}cert_file {cert}: give the "
                "key that was made with that certificate")
    now = datetime.now(UTC)
    if mine.not_valid_after_utc <= now:
        return (f"{prefix}cert_file {cert} expired on {mine.not_valid_after_utc:%Y-%m-%d %H:%M} "
                "UTC: renew it (roadside pki issue, or the agent renews its own)")
    if mine.not_valid_before_utc > now:
        return (f"{prefix}cert_file {cert} is valid only from "
                f"{mine.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: is this clock right?")
    if not issued_by(mine.public_bytes(serialization.Encoding.DER), ca):
        return (f"{prefix}cert_file {cert} is not from the site CA in {prefix}ca_file {ca}: "
                "give the certificate and CA of the same site")
    return None


def _server_certificate(sock: socket.socket, host: str) -> bytes | None:
    """The server's certificate (DER) when it speaks TLS, None when it does not."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(ALPN)
    try:
        with context.wrap_socket(sock, server_hostname=host or None) as tls:
            return tls.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None


def issued_by(der: bytes | None, ca: Path) -> bool:
    """Whether the certificate `der` was signed by the CA certificate in `ca`."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    if der is None:
        return False
    try:
        issuer = x509.load_pem_x509_certificate(ca.read_bytes())
        x509.load_der_x509_certificate(der).verify_directly_issued_by(issuer)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def _client_refused(host: str, port: int, ca: Path, cert: Path, key: Path) -> str | None:
    """The server's alert when it refuses our certificate (TLS 1.3 sends it after the
    handshake, so read its first frame), else None."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    context.set_alpn_protocols(ALPN)
    try:
        with (socket.create_connection((host, port), PROBE_TIMEOUT_S) as sock,
              context.wrap_socket(sock, server_hostname=host or None) as tls):
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            tls.recv(1)
    except ssl.SSLError as exc:
        return exc.reason or str(exc)
    except OSError:
        return None
    return None
