"""Who a certificate of the site PKI speaks for, and the enrollment token format.

The identity lives in the certificate's subjectAltName as one URI, never in a request:

    urn:roadside:detector:<detector id>
    urn:roadside:operator:<name>:<viewer|analyst|admin>
    urn:roadside:central:<name>

An enrollment token is `rst1.` + base64url(32 random bytes + SHA-256 of the site CA's
certificate): the secret proves the box may enroll once, the fingerprint pins the CA the
box will trust (it checks what central presents against it before sending anything).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from roadside.common.errors import RoadsideError
from roadside.common.ids import DETECTOR_ID_RE

ROLES = ("viewer", "analyst", "admin")
KINDS = ("detector", "operator", "central")
URI_PREFIX = "urn:roadside:"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
TOKEN_PREFIX = "rst1."
TOKEN_SECRET_BYTES = 32


class IdentityError(RoadsideError):
    """A name, role, certificate or token that is not what the site PKI makes."""


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str  # detector, operator, central
    name: str  # the detector id, the operator's or the server's name
    role: str = ""  # an operator's role; a detector's is "detector"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise IdentityError(f"identity kind: expected one of {', '.join(KINDS)}")
        pattern = DETECTOR_ID_RE if self.kind == "detector" else NAME_RE
        if not pattern.fullmatch(self.name):
            raise IdentityError(f"{self.kind} name: {self.name!r} is not allowed "
                                f"({pattern.pattern})")
        if self.kind == "operator" and self.role not in ROLES:
            raise IdentityError(f"role: expected one of {', '.join(ROLES)}, got {self.role!r}")

    @property
    def uri(self) -> str:
        tail = f":{self.role}" if self.kind == "operator" else ""
        return f"{URI_PREFIX}{self.kind}:{self.name}{tail}"

    @property
    def effective_role(self) -> str:
        """What the role table is checked against: an operator's role, else the kind."""
        return self.role if self.kind == "operator" else self.kind

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" + (f" ({self.role})" if self.role else "")

    @classmethod
    def from_uri(cls, uri: str) -> Identity:
        if not uri.startswith(URI_PREFIX):
            raise IdentityError(f"not a roadside identity: {uri!r}")
        parts = uri[len(URI_PREFIX):].split(":")
        if parts[0] == "operator" and len(parts) == 3:
            return cls("operator", parts[1], parts[2])
        if parts[0] in ("detector", "central") and len(parts) == 2:
            return cls(parts[0], parts[1])
        raise IdentityError(f"not a roadside identity: {uri!r}")


def of_certificate(cert: x509.Certificate) -> Identity:
    """The one roadside identity URI in the certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise IdentityError("the certificate names no roadside identity") from exc
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)
            if u.startswith(URI_PREFIX)]
    if len(uris) != 1:
        raise IdentityError("the certificate names no (or more than one) roadside identity")
    return Identity.from_uri(uris[0])


@functools.lru_cache(maxsize=4096)
def of_pem(pem: bytes) -> tuple[Identity, int]:
    """(identity, serial number) of a PEM certificate; cached: every call of a connection
    presents the same bytes."""
    cert = x509.load_pem_x509_certificate(pem)
    return of_certificate(cert), cert.serial_number


def fingerprint(cert_pem: bytes) -> bytes:
    """SHA-256 of the certificate's DER encoding."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()


def make_token(secret: bytes, ca_pem: bytes) -> str:
    raw = secret + fingerprint(ca_pem)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_token(token: str) -> tuple[bytes, bytes]:
    """(secret, CA fingerprint) of a token; IdentityError naming what is wrong."""
    text = token.strip()
    if not text.startswith(TOKEN_PREFIX):
        raise IdentityError("enrollment token: expected rst1.<...> from `roadside pki token`")
    body = text[len(TOKEN_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise IdentityError("enrollment token: damaged (not base64url)") from exc
    if len(raw) != TOKEN_SECRET_BYTES + 32:
        raise IdentityError("enrollment token: damaged (wrong length)")
    return raw[:TOKEN_SECRET_BYTES], raw[TOKEN_SECRET_BYTES:]


def token_digest(secret: bytes) -> str:
    """What central stores of a token: its SHA-256, hex."""
    return hashlib.sha256(secret).hexdigest()


def new_key() -> ec.EllipticCurvePrivateKey:
    """An EC P-256 private key: the only kind the site PKI issues for."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key: ec.EllipticCurvePrivateKey, name: str) -> bytes:
    """A certificate request for `key`; the identity in the certificate is central's to
    decide (from the token or the caller's current certificate), never the request's."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)
