"""roadside.v1 EnrollService: a box trades a one-time token and a CSR for its certificate,
and renews it over its current identity. The private key never leaves the box."""

from __future__ import annotations

import logging

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from roadside.central.api.authz import Guard
from roadside.central.api.grpc_errors import grpc_method
from roadside.central.errors import InvalidArgument, PermissionDenied, Unauthenticated
from roadside.central.pki.ca import PkiError, SiteCA, csr_key
from roadside.central.pki.registry import PkiRegistry
from roadside.common.identity import Identity, IdentityError, parse_token, token_digest
from roadside.proto.v1 import enroll_pb2, enroll_pb2_grpc

log = logging.getLogger(__name__)

MAX_CSR_BYTES = 4096
NS_PER_S = 1_000_000_000


class EnrollServicer(enroll_pb2_grpc.EnrollServiceServicer):
    def __init__(self, ca: SiteCA, registry: PkiRegistry, guard: Guard) -> None:
        self.ca = ca
        self.registry = registry
        self.guard = guard

    def _issue(self, key: ec.EllipticCurvePublicKey, identity: Identity,
               ) -> enroll_pb2.EnrollResponse:
        issued = self.ca.issue(identity, key)
        self.registry.record(issued.cert)
        not_after = int(issued.cert.not_valid_after_utc.timestamp()) * NS_PER_S
        log.info("certificate %x issued to %s", issued.cert.serial_number, identity)
        return enroll_pb2.EnrollResponse(detector_id=identity.name, cert_pem=issued.cert_pem,
                                         ca_pem=self.ca.cert_pem, not_after_ns=not_after)

    @grpc_method
    def Enroll(self, request: enroll_pb2.EnrollRequest,
               context: grpc.ServicerContext) -> enroll_pb2.EnrollResponse:
        try:
            secret, _pin = parse_token(request.token)  # the pin is for the box
        except IdentityError as exc:
            raise InvalidArgument(f"token: {exc}") from exc
        key = _csr_key(request.csr_pem)  # a refused request leaves the token usable
        detector_id = self.registry.take_token(token_digest(secret))
        if detector_id is None:
            raise Unauthenticated("token: unknown, already used or expired "
                                  "(make a new one: roadside pki token --detector ID)")
        return self._issue(key, Identity("detector", detector_id))

    @grpc_method
    def Renew(self, request: enroll_pb2.RenewRequest,
              context: grpc.ServicerContext) -> enroll_pb2.EnrollResponse:
        who = self.guard.caller(context)
        if who is None or who.kind != "detector":
            raise PermissionDenied("Renew: only a detector renews its own certificate")
        return self._issue(_csr_key(request.csr_pem), who)


def _csr_key(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    if len(csr_pem) > MAX_CSR_BYTES:
        raise InvalidArgument(f"csr_pem: {len(csr_pem)} bytes, at most {MAX_CSR_BYTES}")
    try:
        return csr_key(csr_pem)
    except PkiError as exc:
        raise InvalidArgument(str(exc)) from exc
