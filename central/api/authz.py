"""Who may call what: one table of method -> roles, checked on every call of both APIs.

The caller is the identity in its verified client certificate (roadside.common.identity),
never anything in the request. Roles:

    detector  upload, register and report status for its own id only
    viewer    detectors, status, links, routes, travel-time windows (no per-device figures)
    analyst   a viewer who may also read per-device events and samples (every read audited)
    admin     a viewer who may also change links, routes and the registry (audited)

No certificate -> UNAUTHENTICATED; a revoked one -> UNAUTHENTICATED naming its serial; the
wrong role or another detector's id -> PERMISSION_DENIED naming what is needed; the refused
call writes nothing. With `insecure` (development on loopback only) nothing is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from roadside.central.api import validation
from roadside.central.errors import InvalidArgument
from roadside.common.identity import Identity, IdentityError, of_pem
from roadside.common.timeparse import format_utc

log = logging.getLogger(__name__)

DETECTOR = frozenset({"detector"})
VIEW = frozenset({"viewer", "analyst", "admin"})
ANALYST = frozenset({"analyst"})
ADMIN = frozenset({"admin"})
ANYONE = frozenset({"*"})  # no certificate needed (enrollment: the token is the credential)

Ids = Callable[[Any], Iterable[str]]
Subject = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[str]
    acting_for: Ids | None = None  # the detector ids a detector's request acts for
    field: str = ""  # the request field acting_for reads (named when it is not an id)
    audit: Subject | None = None  # audited calls: what they are about
    also_needs: Callable[[Any], str | None] | None = None  # e.g. samples need analyst


def _span(since_ns: int, until_ns: int) -> str:
    return (f"{format_utc(since_ns) if since_ns else 'the start'} .. "
            f"{format_utc(until_ns) if until_ns else 'now'}")


def _events(r: Any) -> str:
    ids = ",".join(getattr(r, "detector_ids", ())) or "every detector"
    return f"events of {ids}, {_span(getattr(r, 'since_ns', 0), getattr(r, 'until_ns', 0))}"


def _samples(r: Any) -> str | None:
    return "analyst" if r.include_samples else None


def _windows(r: Any) -> str:
    if r.WhichOneof("target") == "route":
        what = f"route {r.route}"
    else:
        what = f"link {r.link.src_detector_id}->{r.link.dest_detector_id}"
    return f"samples of {what}, {_span(r.since_ns, r.until_ns)}"


V1C, V1Q, LC, LQ = ("roadside.v1.CollectorService", "roadside.v1.QueryService",
                    "collector.CollectorService", "query.QueryService")
RULES: dict[str, Rule] = {
    f"{V1C}.UploadBatch": Rule(DETECTOR, lambda r: [r.detector_id], "detector_id"),
    f"{V1C}.RegisterDetector": Rule(DETECTOR | ADMIN, lambda r: [r.detector.id], "detector.id",
                                    lambda r: f"registry {r.detector.id}"),
    f"{V1C}.SetLinks": Rule(ADMIN, audit=lambda r: f"links into {r.dest_detector_id}"),
    f"{V1C}.ReportStatus": Rule(DETECTOR, lambda r: [r.status.detector_id],
                                "status.detector_id"),
    f"{V1C}.SetRoute": Rule(ADMIN, audit=lambda r: f"route {r.route.name}"),
    f"{LC}.CreateEventLog": Rule(DETECTOR, lambda r: [r.loc.detector_id], "loc.detector_id"),
    f"{LC}.StreamEventLog": Rule(DETECTOR, lambda r: [r.loc.detector_id],  # every message
                                  "loc.detector_id"),
    f"{LC}.CreateDetectorLink": Rule(ADMIN, audit=lambda r: f"links into {r.dest_detector_id}"),
    f"{LC}.CreateCoordinates": Rule(DETECTOR | ADMIN, lambda r: [r.detector_id], "detector_id",
                                    lambda r: f"registry {r.detector_id}"),
    f"{LC}.CreateDetectorStatus": Rule(DETECTOR, lambda r: [r.loc.detector_id],
                                        "loc.detector_id"),
    f"{V1Q}.GetEvents": Rule(ANALYST, audit=_events),
    f"{V1Q}.StreamEvents": Rule(ANALYST, audit=_events),
    f"{V1Q}.StreamEventPages": Rule(ANALYST, audit=_events),
    f"{V1Q}.StreamEventColumns": Rule(ANALYST, audit=_events),
    f"{V1Q}.ListDetectors": Rule(VIEW),
    f"{V1Q}.GetLinks": Rule(VIEW),
    f"{V1Q}.GetStatus": Rule(VIEW),
    f"{V1Q}.ListRoutes": Rule(VIEW),
    f"{V1Q}.GetTravelTimes": Rule(VIEW, also_needs=_samples),
    f"{V1Q}.StreamTravelTimes": Rule(VIEW, also_needs=_samples),
    f"{V1Q}.ListAudit": Rule(ADMIN),
    f"{LQ}.GetEvents": Rule(ANALYST, audit=lambda r: "events (original API)"),
    f"{LQ}.StreamEvents": Rule(ANALYST, audit=lambda r: "events (original API)"),
    f"{LQ}.GetBatteryVoltage": Rule(VIEW),
    "roadside.v1.EnrollService.Enroll": Rule(ANYONE),
    "roadside.v1.EnrollService.Renew": Rule(DETECTOR),
}


def deny(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise RuntimeError("context.abort returned")  # grpc always raises


def describe_roles(roles: frozenset[str]) -> str:
    return " or ".join(sorted(roles))


def no_audit() -> None:
    """No audit entry for this call."""


class Guard:
    """Checks calls against RULES; `revoked(serial)` answers from the watched revocations;
    `audit(who, method, what)` records analyst reads and admin changes."""

    def __init__(self, insecure: bool, revoked: Callable[[int], bool],
                 audit: Callable[[Identity | None, str, str], None],
                 on_revoke: Callable[[int, Callable[[], None]], Callable[[], None]] | None
                 = None) -> None:
        self.insecure = insecure
        self._revoked = revoked
        self._audit = audit
        self._on_revoke = on_revoke  # (serial, callback) -> undo: runs callback on revocation

    def serial(self, context: grpc.ServicerContext) -> int | None:
        """The serial of the caller's certificate (None: insecure, or no certificate)."""
        pem = context.auth_context().get("x509_pem_cert")
        if self.insecure or not pem:
            return None
        try:
            return of_pem(pem[0])[1]
        except (IdentityError, ValueError):
            return None

    def still_trusted(self, serial: int | None, context: grpc.ServicerContext) -> None:
        """Within a stream: end it (UNAUTHENTICATED) once its certificate is revoked."""
        if serial is not None and self._revoked(serial):
            deny(context, grpc.StatusCode.UNAUTHENTICATED,
                 f"certificate {serial:x} was revoked while this stream was open")

    def on_revoke(self, serial: int | None, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when `serial` is revoked; returns what undoes this."""
        if serial is None or self._on_revoke is None:
            return lambda: None
        return self._on_revoke(serial, callback)

    def caller(self, context: grpc.ServicerContext) -> Identity | None:
        """The verified caller, or None (insecure mode, or no certificate)."""
        pem = context.auth_context().get("x509_pem_cert")
        if not pem:
            return None
        try:
            identity, serial = of_pem(pem[0])
        except (IdentityError, ValueError) as exc:
            deny(context, grpc.StatusCode.UNAUTHENTICATED,
                          f"the client certificate names no roadside identity ({exc})")
        if self._revoked(serial):
            deny(context, grpc.StatusCode.UNAUTHENTICATED,
                          f"certificate {serial:x} of {identity} is revoked")
        return identity

    def check(self, method: str, context: grpc.ServicerContext, request: Any,
              ) -> Callable[[], None]:
        """Abort the call unless its caller may make it. Returns what audits it when the
        table says so: the handler calls that once the call has been validated and served
        (a refused request leaves no entry)."""
        if self.insecure:
            return no_audit
        rule = RULES.get(method)
        if rule is None:
            deny(context, grpc.StatusCode.PERMISSION_DENIED, f"{method}: not in the role table")
        if rule.roles is ANYONE:
            return no_audit
        who = self.caller(context)
        if who is None:
            deny(context, grpc.StatusCode.UNAUTHENTICATED,
                          f"{method} needs a client certificate of the site PKI "
                          f"({describe_roles(rule.roles)})")
        role = who.effective_role
        if role not in rule.roles:
            deny(context, grpc.StatusCode.PERMISSION_DENIED,
                          f"{method} needs role {describe_roles(rule.roles)}; the caller is {who}")
        extra = rule.also_needs(request) if rule.also_needs else None
        if extra is not None and role != extra:
            deny(context, grpc.StatusCode.PERMISSION_DENIED,
                          f"{method} with per-device data needs role {extra}; the caller is {who}")
        if request is not None:
            _own_only(who, rule, request, context)
        if rule.audit is not None and (role in ("analyst", "admin") or extra):
            what = rule.audit(request)
            return lambda: self._audit(who, method, what)
        if extra is not None:
            what = _windows(request)
            return lambda: self._audit(who, method, what)
        return no_audit

    def check_message(self, method: str, context: grpc.ServicerContext, request: Any,
                      index: int) -> None:
        """For each message of a client stream: a detector acts only for itself."""
        if self.insecure:
            return
        who = self.caller(context)
        if who is not None:
            _own_only(who, RULES[method], request, context, f"messages[{index}].")


def _own_only(who: Identity, rule: Rule, request: Any, context: grpc.ServicerContext,
              prefix: str = "") -> None:
    """A detector's request acts only for the detector itself; an id that cannot be one is
    INVALID_ARGUMENT naming the field, as validation would say."""
    if who.effective_role != "detector" or rule.acting_for is None:
        return
    for detector_id in rule.acting_for(request):
        try:
            validation.detector_id(detector_id, prefix + rule.field)
        except InvalidArgument as exc:
            deny(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if detector_id != who.name:
            deny(context, grpc.StatusCode.PERMISSION_DENIED,
                 f"detector {who.name} may act only for itself, not for {detector_id!r}")
