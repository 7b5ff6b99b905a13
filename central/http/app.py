"""The HTTP feeds as a FastAPI application (OpenAPI at /openapi.json).

Every feed needs an API key (`Authorization: Bearer rsk1...`, `roadside apikey issue`) of
any role: the feeds carry aggregates only. With `http_open_data` the travel times, the
network and DATEX II are also served without a key (k-suppressed aggregates, no detector
health); /api/v1/detectors/health always needs a key. /dashboard/ is the desk's page (static
files, nothing fetched from elsewhere); it calls the feeds with the key it is given.

(No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at
run time, and the dependencies are closures.)
"""

import datetime
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import grpc
import pydantic_core
from cryptography import x509
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from roadside.central.api.grpc_errors import code_for
from roadside.central.errors import CentralError
from roadside.central.http import admin, reports
from roadside.central.http.apikeys import ApiKeys
from roadside.central.http.datex import publication
from roadside.central.http.feed_bodies import FRESH_S, FeedBodies
from roadside.central.http.feeds import MAX_RECENT_S, Feeds
from roadside.common import __version__
from roadside.common.identity import IdentityError, of_certificate

ANONYMOUS = "anonymous"
STATIC = Path(__file__).with_name("static")  # the dashboard: our own HTML, CSS and JS
DATEX_TYPE = "application/xml"


# central's errors as HTTP statuses, through their gRPC codes (central/api/grpc_errors.py)
HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 422, grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
               grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503}
MAX_PERIOD_HOURS = 7 * 24  # the longest period data quality and alert history look back
QUALITY_MAX_AGE_S = 60.0  # data quality over hours: built again on a change, or each minute


def check_hours(hours: float, most: int) -> None:
    """422 naming the `hours` parameter unless 0 < hours <= most."""
    if not 0 < hours <= most:
        raise HTTPException(422, f"hours: expected more than 0 and at most {most}, "
                                 f"got {hours:g}")


def day_span(day: str, time_zone: str) -> tuple[int, int]:
    """[start, end) in unix ns of a YYYY-MM-DD day in `time_zone` (UTC when empty)."""
    try:
        date = datetime.date.fromisoformat(day)
    except ValueError as exc:
        raise HTTPException(422, f"day: expected YYYY-MM-DD, got {day!r}") from exc
    zone = zoneinfo.ZoneInfo(time_zone) if time_zone else datetime.UTC
    start = datetime.datetime.combine(date, datetime.time(), zone)
    end = datetime.datetime.combine(date + datetime.timedelta(days=1), datetime.time(), zone)
    return int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9


def make_app(feeds: Feeds, apikeys: ApiKeys, open_data: bool, country: str = "XX",
             revoked: Callable[[int], bool] | None = None,
             map_tiles: str = "", map_attribution: str = "", time_zone: str = "",
             map_style: str = "") -> FastAPI:
    app = FastAPI(title="roadside", version=__version__, docs_url=None, redoc_url=None,
                  description="Travel times, network and detector health of a roadside "
                              "site: JSON, GeoJSON and DATEX II v3.")

    bodies = FeedBodies(lambda: feeds.cache.generation())  # the feeds' replies, kept

    def served(request: Request, key: tuple[Any, ...], build: Callable[[], bytes],
               media_type: str, max_age_s: float | None = None) -> Response:
        """The feed's kept body with its strong ETag; 304 Not Modified when the client has
        it already."""
        body = bodies.get(key, build, max_age_s)
        headers = {"ETag": body.tag, "Cache-Control": "no-cache"}
        if body.tag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(body.data, media_type=media_type, headers=headers)

    def caller(request: Request) -> str:
        """The caller's role: a live API key's, an operator certificate's (HTTPS with a
        client certificate of the site CA), or anonymous in open-data mode. Who it is goes
        to request.state.who (the audit log's name for it)."""
        der = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
        if der is not None and revoked is not None:
            request.state.who, role = _certificate_role(der, revoked)
            return role
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            record = apikeys.check(key.strip()) if scheme.lower() == "bearer" else None
            if record is None:
                raise HTTPException(401, "unknown or revoked API key",
                                    headers={"WWW-Authenticate": "Bearer"})
            request.state.who = f"apikey:{record.name}"
            return record.role
        if open_data:
            request.state.who = ANONYMOUS
            return ANONYMOUS
        raise HTTPException(401, "an API key is needed: Authorization: Bearer KEY "
                                 "(roadside apikey issue NAME --role viewer)",
                            headers={"WWW-Authenticate": "Bearer"})

    def known(role: Annotated[str, Depends(caller)]) -> str:
        if role == ANONYMOUS:
            raise HTTPException(401, "this needs an API key: Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})
        return role

    app.mount("/dashboard", StaticFiles(directory=STATIC, html=True), name="dashboard")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/travel-times", summary="current and recent travel times",
             response_class=Response)
    def travel_times(request: Request, _role: Annotated[str, Depends(caller)],
                     id: str | None = None, hours: float = 1.0,
                     day: str | None = None) -> Response:
        check_hours(hours, MAX_RECENT_S // 3600)

        def build() -> bytes:
            if day is not None:  # one target's windows of a day on the site's clock
                if id is None:
                    raise HTTPException(422, "day: give id too (one link or route a day)")
                entries = feeds.span(id, *day_span(day, time_zone))
            else:
                entries = feeds.travel_times(only=id, recent_s=int(hours * 3600))
            if id is not None and not entries:
                raise HTTPException(404, f"no link or route {id!r} (ids: link/SRC/DEST, "
                                         "route/NAME)")
            return pydantic_core.to_json({"entries": entries})

        return served(request, ("travel-times", id, hours, day), build, "application/json")

    @app.get("/api/v1/network.geojson", summary="detectors, links and routes as GeoJSON")
    def network(request: Request, role: Annotated[str, Depends(caller)]) -> Response:
        with_health = role != ANONYMOUS
        return served(request, ("network", with_health),
                      lambda: pydantic_core.to_json(feeds.network(with_health)),
                      "application/geo+json", FRESH_S if with_health else None)

    @app.get("/api/v1/detectors/health", summary="each detector's health")
    def health(_role: Annotated[str, Depends(known)]) -> dict[str, Any]:
        return {"detectors": feeds.health(), "allowed_silence_s": feeds.allowed_silence_s}

    @app.get("/api/v1/dashboard", summary="the dashboard's settings (map tiles, time zone)")
    def dashboard(role: Annotated[str, Depends(caller)]) -> dict[str, Any]:
        return {"map_tiles": map_tiles or None, "map_style": map_style or None,
                "map_attribution": map_attribution or None, "time_zone": time_zone or None,
                "role": role}

    @app.get("/api/v1/quality", summary="each link's and route's data quality over a period",
             response_class=Response)
    def quality(request: Request, _role: Annotated[str, Depends(known)],
                hours: float = 24.0) -> Response:
        check_hours(hours, MAX_PERIOD_HOURS)  # (hours of windows: kept up to a minute)
        return served(request, ("quality", hours),
                      lambda: pydantic_core.to_json({"targets": feeds.quality(hours)}),
                      "application/json", QUALITY_MAX_AGE_S)

    @app.get("/api/v1/alerts/history", summary="alert changes over the last hours, newest first")
    def alert_history(_role: Annotated[str, Depends(known)],
                      hours: float = 24.0) -> dict[str, Any]:
        check_hours(hours, MAX_PERIOD_HOURS)
        return {"changes": feeds.alert_history(hours)}

    @app.get("/api/v1/alerts", summary="alert states: Warn and Bad, and the ones cleared")
    def alert_states(_role: Annotated[str, Depends(known)]) -> dict[str, Any]:
        return {"alerts": feeds.alerts()}

    reports.add_routes(app, feeds, known, day_span, time_zone)
    admin.add_routes(app, feeds, known)

    @app.exception_handler(CentralError)
    def refused(_request: Request, exc: CentralError) -> JSONResponse:
        """Central's errors as HTTP statuses with their message (as gRPC's table does)."""
        status = HTTP_STATUS.get(code_for(exc), 500)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/datex2/v3/travel-times.xml", summary="DATEX II v3 ElaboratedDataPublication",
             response_class=Response)
    def datex(request: Request, _role: Annotated[str, Depends(caller)]) -> Response:
        def build() -> bytes:
            found = feeds.places()
            places = {p.id: (p.latitude, p.longitude) for p in found.values()}
            return publication(feeds.travel_times(), places, country, roads=feeds.roads(found))

        return served(request, ("datex",), build, DATEX_TYPE)

    return app


def _certificate_role(der: bytes, revoked: Callable[[int], bool]) -> tuple[str, str]:
    """An operator certificate's (identity, role) (TLS verified it against the site CA
    already)."""
    cert = x509.load_der_x509_certificate(der)
    if revoked(cert.serial_number):
        raise HTTPException(401, "certificate revoked")
    try:
        who = of_certificate(cert)
    except IdentityError as exc:
        raise HTTPException(401, str(exc)) from exc
    if who.kind != "operator":
        raise HTTPException(403, f"{who}: the feeds are for operators (or API keys)")
    return str(who), str(who.role)
