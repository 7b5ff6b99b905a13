"""The site CA on disk: `ca.pem` and `ca.key` (0600) in the PKI directory, and issuing.

Every certificate carries its holder's identity as a subjectAltName URI
(roadside.common.identity); central reads it from the verified peer certificate. Keys are
EC P-256. Lifetimes: detectors DETECTOR_DAYS (short: the agent renews its own well before
expiry), operators OPERATOR_DAYS, central and etcd SERVER_DAYS.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from roadside.central.errors import CentralError
from roadside.common.files import write_atomic
from roadside.common.identity import Identity, key_pem, new_key

CA_CERT, CA_KEY = "ca.pem", "ca.key"
CA_DAYS = 3650
DETECTOR_DAYS = 7
OPERATOR_DAYS = 90
SERVER_DAYS = 365
BACKDATE = datetime.timedelta(minutes=5)  # clocks of boxes differ a little


class PkiError(CentralError):
    """The PKI directory is missing, unreadable or already set up."""


@dataclass(frozen=True, slots=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None  # None when the holder made its own (a CSR)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        assert self.key is not None
        return key_pem(self.key)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SiteCA:
    def __init__(self, directory: Path, cert: x509.Certificate,
                 key: ec.EllipticCurvePrivateKey) -> None:
        self.directory = directory
        self.cert = cert
        self.key = key

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def init(cls, directory: Path, name: str = "roadside site CA") -> SiteCA:
        """Make a new CA in `directory` (refused when one is there)."""
        if (directory / CA_KEY).exists():
            raise PkiError(f"{directory}: a site CA is already there (ca.key)")
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        write_atomic(directory / CA_KEY, key_pem(key), 0o600)
        write_atomic(directory / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cls(directory, cert, key)

    @classmethod
    def load(cls, directory: Path) -> SiteCA:
        try:
            cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
            key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
        except FileNotFoundError as exc:
            raise PkiError(f"{directory}: no site CA ({exc.filename} missing): run "
                           "`roadside pki init`") from exc
        except (OSError, ValueError) as exc:
            raise PkiError(f"{directory}: cannot read the site CA: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{directory}/{CA_KEY}: not an EC key")
        return cls(directory, cert, key)

    @classmethod
    def load_or_init(cls, directory: Path) -> SiteCA:
        if (directory / CA_KEY).exists():
            return cls.load(directory)
        return cls.init(directory)

    def issue(
        self, identity: Identity, public_key: ec.EllipticCurvePublicKey | None = None,
        days: float | None = None, dns: Sequence[str] = (), ips: Sequence[str] = (),
    ) -> Issued:
        """A certificate for `identity`; with no public key, a new key pair too."""
        key = None
        if public_key is None:
            key = new_key()
            public_key = key.public_key()
        lifetime = days if days is not None else {
            "detector": DETECTOR_DAYS, "operator": OPERATOR_DAYS}.get(identity.kind, SERVER_DAYS)
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
        names += [x509.DNSName(d) for d in dns]
        names += _ip_names(ips)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if identity.kind == "central":
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        return Issued(self._sign(f"{identity.kind} {identity.name}", public_key, lifetime,
                                 names, usages), key)

    def issue_named(self, common_name: str, server: bool = False, dns: Sequence[str] = (),
                    ips: Sequence[str] = ()) -> Issued:
        """A certificate that names its holder by CN only (etcd: CN = the etcd user)."""
        key = new_key()
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += _ip_names(ips)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        return Issued(self._sign(common_name, key.public_key(), SERVER_DAYS, names, usages),
                      key)

    def _sign(self, common_name: str, public_key: ec.EllipticCurvePublicKey, days: float,
              names: Sequence[x509.GeneralName], usages: Sequence[x509.ObjectIdentifier],
              ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)),
                                            critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: bytes, identity: Identity, days: float | None = None) -> Issued:
        """A certificate for `identity` (decided by central, not the CSR) on the CSR's key."""
        return self.issue(identity, csr_key(csr_pem), days)


def csr_key(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 key of a well-formed, self-signed CSR; PkiError saying what is wrong."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"csr: not a PEM certificate request we can read ({exc})") from exc
    if not valid:
        raise PkiError("csr: its signature does not match its key")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
            not isinstance(public_key.curve, ec.SECP256R1):
        raise PkiError("csr: expected an EC P-256 key")
    return public_key


def _ip_names(ips: Sequence[str]) -> list[x509.GeneralName]:
    try:
        return [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    except ValueError as exc:
        raise PkiError(f"--ip: {exc}") from exc
