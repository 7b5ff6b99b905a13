"""The desk's edits over HTTP, for the admin role only (the gRPC role table's rule), each
audited as the CLI's are: a link (its rules and its road), a route, a detector's place; and
the audit log to read them back.

    GET    /api/v1/links                 links and routes, as stored (any key)
    PUT    /api/v1/links/{src}/{dest}    set one link (the others into dest stay)
    DELETE /api/v1/links/{src}/{dest}
    PUT    /api/v1/routes/{name}         {"detector_ids": [...]}
    PUT    /api/v1/detectors/{id}/place  {"latitude": .., "longitude": ..}
    GET    /api/v1/audit?hours=24        admin only

(No `from __future__ import annotations`: FastAPI reads the annotations at run time.)
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from roadside.central.api import admin, validation, wire
from roadside.central.errors import InvalidArgument, NotFound
from roadside.central.http.feeds import Feeds
from roadside.central.store.records import LinkRecord
from roadside.proto.v1 import collector_pb2

ADMIN_ROLES = ("admin",)
MAX_AUDIT_HOURS = 24 * 31


class LinkEdit(BaseModel):
    """A link's rules and road, as `roadside links set` takes them."""

    max_seconds: int = Field(description="the longest trip counted as a travel time")
    length_m: float = 0.0
    min_speed_kmh: float = 0.0
    max_speed_kmh: float = 0.0
    outlier_filter: str = ""
    vehicle_only: bool = False
    geometry: list[list[float]] = Field(
        default=[], description="[longitude, latitude] points, driving order; [] = straight")


class RouteEdit(BaseModel):
    detector_ids: list[str]


class PlaceEdit(BaseModel):
    latitude: float
    longitude: float


def link_json(link: LinkRecord) -> dict[str, Any]:
    return {"src": link.src, "dest": link.dest, "max_seconds": link.max_seconds,
            "length_m": link.length_m, "min_speed_kmh": link.min_speed_kmh,
            "max_speed_kmh": link.max_speed_kmh, "outlier_filter": link.outlier,
            "vehicle_only": link.vehicle_only, "geometry": link.line() or []}


def add_routes(app: FastAPI, feeds: Feeds, known: Callable[..., str]) -> None:

    def editor(request: Request, role: Annotated[str, Depends(known)]) -> str:
        """Who edits (for the audit log); an admin only."""
        if role not in ADMIN_ROLES:
            raise HTTPException(403, f"editing needs role admin; this caller's role is {role}")
        return str(request.state.who)

    @app.get("/api/v1/links", summary="links (rules and roads) and routes, as stored")
    def links(_role: Annotated[str, Depends(known)]) -> dict[str, Any]:
        return {"links": [link_json(x) for x in feeds.store.links()],
                "routes": [{"name": r.name, "detector_ids": list(r.detector_ids)}
                           for r in feeds.store.routes()],
                "outlier_filters": list(validation.OUTLIER_FILTERS)}

    @app.put("/api/v1/links/{src}/{dest}", summary="set one link (admin; audited)")
    def put_link(who: Annotated[str, Depends(editor)], src: str, dest: str,
                 edit: LinkEdit) -> dict[str, Any]:
        if any(len(point) != 2 for point in edit.geometry):
            raise HTTPException(422, "geometry: expected [longitude, latitude] points")
        flat = [value for point in edit.geometry for value in point]
        new = collector_pb2.LinkSource(
            src_detector_id=src, max_seconds=edit.max_seconds, length_m=edit.length_m,
            min_speed_kmh=edit.min_speed_kmh, max_speed_kmh=edit.max_speed_kmh,
            outlier_filter=edit.outlier_filter, vehicle_only=edit.vehicle_only, geometry=flat)
        request = collector_pb2.SetLinksRequest(dest_detector_id=dest, sources=[new])
        try:  # this link's key alone: an edit of another link at the same time stays
            [stored] = admin.set_links(feeds.store, request, replace=False)
        except InvalidArgument as exc:  # its fields named as in this request's body
            raise InvalidArgument(str(exc).replace("sources[0].", "")) from exc
        feeds.store.put_audit(who, "PUT /api/v1/links",
                              f"links into {dest}: {src} set ({len(flat) // 2} road points)")
        return link_json(stored)

    @app.delete("/api/v1/links/{src}/{dest}", summary="remove one link (admin; audited)")
    def delete_link(who: Annotated[str, Depends(editor)], src: str,
                    dest: str) -> dict[str, Any]:
        admin.remove_link(feeds.store, src, dest)
        feeds.store.put_audit(who, "DELETE /api/v1/links", f"links into {dest}: {src} removed")
        return {"removed": f"link/{src}/{dest}"}

    @app.put("/api/v1/routes/{name}", summary="set a route (admin; audited)")
    def put_route(who: Annotated[str, Depends(editor)], name: str,
                  edit: RouteEdit) -> dict[str, Any]:
        route = collector_pb2.Route(name=name, detector_ids=edit.detector_ids)
        stored = admin.set_route(feeds.store, route)
        feeds.store.put_audit(who, "PUT /api/v1/routes",
                              f"route {name}: " + " -> ".join(stored.detector_ids))
        return {"name": stored.name, "detector_ids": list(stored.detector_ids)}

    @app.put("/api/v1/detectors/{detector_id}/place",
             summary="place a detector on the map (admin; audited)")
    def put_place(who: Annotated[str, Depends(editor)], detector_id: str,
                  edit: PlaceEdit) -> dict[str, Any]:
        found = feeds.store.get_detector(detector_id)
        if found is None:
            raise NotFound(f"no detector {detector_id!r}")
        stored = admin.register(feeds.store, wire.record_to_detector(
            dataclasses.replace(found, latitude=edit.latitude, longitude=edit.longitude)))
        feeds.store.put_audit(who, "PUT /api/v1/detectors/place",
                              f"registry {detector_id}: {stored.latitude:.6f}, "
                              f"{stored.longitude:.6f}")
        return {"id": stored.id, "latitude": stored.latitude, "longitude": stored.longitude}

    @app.get("/api/v1/audit", summary="the audit log of the last hours (admin)")
    def audit(_who: Annotated[str, Depends(editor)], hours: float = 24.0) -> dict[str, Any]:
        if not 0 < hours <= MAX_AUDIT_HOURS:
            raise HTTPException(422, f"hours: expected more than 0 and at most "
                                     f"{MAX_AUDIT_HOURS}, got {hours:g}")
        since = time.time_ns() - int(hours * 3600e9)
        return {"entries": feeds.store.audit(since)[::-1]}

