"""How central's ports are secured, from the config: mTLS from the site PKI by default.

- Default: the site CA in `pki_dir` (with the embedded etcd, a laptop, `serve` makes one
  the first time, with central's certificate for localhost/127.0.0.1 and an admin operator
  certificate `operator-admin.pem` for the CLI). The collector and query ports require a
  client certificate of the site CA; the enroll port has TLS with central's certificate and
  no client certificate (the token is the credential). Roles are checked on every call.
- `tls_cert_file`/`tls_key_file`/`tls_client_ca_file` override the files taken from pki_dir.
- `insecure`: plaintext, no roles checked, a warning at start; refused on any address but
  loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import etcd3
import grpc

from roadside.central.api.authz import Guard
from roadside.central.config import CentralConfig
from roadside.central.errors import CentralError
from roadside.central.pki.ca import PkiError, SiteCA
from roadside.central.pki.registry import ETCD_ERRORS, PkiRegistry, RevocationList
from roadside.common.files import read_file, write_atomic
from roadside.common.identity import Identity

log = logging.getLogger(__name__)

CENTRAL_CERT, CENTRAL_KEY = "central.pem", "central.key"
LOCAL_ROLES = ("admin", "analyst")  # a laptop's operator certificates: operator-ROLE.pem


@dataclass
class Security:
    guard: Guard
    ports: grpc.ServerCredentials | None  # collector and query; None = plaintext
    enroll: grpc.ServerCredentials | None  # None = no enroll port
    ca: SiteCA | None
    registry: PkiRegistry | None
    revocations: RevocationList | None

    def stop(self) -> None:
        if self.revocations is not None:
            self.revocations.stop()


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def site_ca(config: CentralConfig) -> SiteCA:
    """The site CA in pki_dir, made (and said so) when there is none."""
    pki_dir = config.pki_path
    made = not (pki_dir / "ca.key").exists()
    try:
        ca = SiteCA.load_or_init(pki_dir)
    except PkiError as exc:
        raise CentralError(f"{exc} (or run with insecure on loopback for development)") \
            from exc
    if made:
        log.warning("no site CA in %s: made one (roadside pki ... --pki-dir %s issues "
                    "certificates and tokens from it)", pki_dir, pki_dir)
    return ca


def check_insecure(config: CentralConfig) -> None:
    """`insecure` is for loopback only: CentralError otherwise."""
    if config.insecure and not loopback(config.host):
        raise CentralError(f"insecure: refused on {config.host}; plaintext without roles "
                           "is for development on loopback (127.0.0.1) only")


def secure(config: CentralConfig, client: etcd3.MultiEndpointEtcd3Client, embedded: bool,
           audit: Callable[[Identity | None, str, str], None],
           ca: SiteCA | None = None) -> Security:
    """`ca`: the site CA when the caller has it loaded already (else read from pki_dir)."""
    if config.insecure:
        check_insecure(config)
        log.warning("INSECURE: plaintext, no client certificates, no roles checked "
                    "(setting insecure): development only")
        return Security(Guard(True, lambda _s: False, audit), None, None, None, None, None)
    pki_dir = config.pki_path
    registry = PkiRegistry(client, config.namespace)
    ca = ca or site_ca(config)
    try:
        key_pem, cert_pem = _central_pair(config, ca, pki_dir, registry)
        if embedded:
            _local_operators(ca, pki_dir, registry)
    except PkiError as exc:
        raise CentralError(f"{exc} (or run with insecure on loopback for development)") \
            from exc
    client_ca = ca.cert_pem
    if config.tls_client_ca_file is not None:
        client_ca = read_file(config.tls_client_ca_file, "tls_client_ca_file", CentralError)
    ports = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_ca,
                                        require_client_auth=True)
    # the enroll port presents the CA too: a box checks it against its token's pin
    enroll = grpc.ssl_server_credentials([(key_pem, cert_pem + ca.cert_pem)])
    revocations = RevocationList(client, config.namespace)
    revocations.start()
    return Security(Guard(False, revocations.revoked, audit, revocations.on_revoke), ports,
                    enroll, ca, registry, revocations)


def _central_pair(config: CentralConfig, ca: SiteCA, pki_dir: Path, registry: PkiRegistry,
                  ) -> tuple[bytes, bytes]:
    """Central's key and certificate: the configured files, else pki_dir's (made once)."""
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        return (read_file(config.tls_key_file, "tls_key_file", CentralError),
                read_file(config.tls_cert_file, "tls_cert_file", CentralError))
    cert, key = pki_dir / CENTRAL_CERT, pki_dir / CENTRAL_KEY
    if not cert.exists() or not key.exists():
        dns = sorted({"localhost", socket.gethostname()})
        ips = ["127.0.0.1", "::1"]
        if config.host not in ("", "0.0.0.0", "::") and not config.host.isalpha():
            ips.append(config.host)
        issued = ca.issue(Identity("central", "central"), dns=dns, ips=ips)
        _record(registry, issued.cert)
        write_atomic(key, issued.key_pem, 0o600)
        write_atomic(cert, issued.cert_pem, 0o644)
        log.info("central's certificate made in %s (%s)", pki_dir, ", ".join(dns + ips))
    return key.read_bytes(), cert.read_bytes()


def _local_operators(ca: SiteCA, pki_dir: Path, registry: PkiRegistry) -> None:
    """On a laptop: operator certificates for the CLI next to the CA, an admin's and an
    analyst's (`roadside query events` needs the one, `links set` the other)."""
    for role in LOCAL_ROLES:
        cert = pki_dir / f"operator-{role}.pem"
        if cert.exists():
            continue
        issued = ca.issue(Identity("operator", f"local-{role}", role))
        _record(registry, issued.cert)
        write_atomic(cert.with_suffix(".key"), issued.key_pem, 0o600)
        write_atomic(cert, issued.cert_pem, 0o644)
        log.info("an %s certificate for the CLI is in %s", role, cert)


def _record(registry: PkiRegistry, cert: Any) -> None:
    try:
        registry.record(cert)
    except ETCD_ERRORS as exc:  # listing is a convenience; the certificate stands
        log.warning("certificate %x not listed in etcd: %s", cert.serial_number, exc)
