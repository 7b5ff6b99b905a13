"""An admin's changes to links, routes and the registry, validated and stored: one path for
the gRPC CollectorService and the desk's HTTP edits (both check the role table first)."""

from __future__ import annotations

import logging

from roadside.central.api import validation, wire
from roadside.central.errors import InvalidArgument, NotFound
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import DetectorRecord, LinkRecord, RouteRecord
from roadside.proto.v1 import collector_pb2, types_pb2

log = logging.getLogger(__name__)


def set_links(store: EtcdStore, request: collector_pb2.SetLinksRequest,
              replace: bool = True) -> list[LinkRecord]:
    """Replace the links into the request's destination with its sources; with
    replace=False set only the links named (one key each: others' edits stay)."""
    validation.set_links(request)
    dest = request.dest_detector_id
    named = [("dest_detector_id", dest)] + [
        (f"sources[{i}].src_detector_id", s.src_detector_id)
        for i, s in enumerate(request.sources)]
    for field, detector_id in named:
        if store.get_detector(detector_id) is None:
            raise NotFound(f"{field}: unknown detector {detector_id!r}: a detector is known "
                           "once registered (roadside agent init/register) or once its agent "
                           "has uploaded")
    sources = wire.link_sources_to_records(dest, list(request.sources))
    if replace:
        routed = _routes_into(store, dest)
        dropped = sorted(routed.keys() - {s.src for s in sources})
        if dropped:
            raise InvalidArgument(f"sources: {_in_use(routed[dropped[0]], dropped[0], dest)}")
    links = store.set_links(dest, sources, replace)
    log.info("links into %s set: %d sources", dest, len(links))
    return links


def remove_link(store: EtcdStore, src: str, dest: str) -> None:
    """Delete the one link src -> dest (no route may use it)."""
    route = _routes_into(store, dest).get(src)
    if route is not None:
        raise InvalidArgument(_in_use(route, src, dest))
    if not store.remove_link(dest, src):
        raise NotFound(f"no link {src} -> {dest}")
    log.info("link %s -> %s removed", src, dest)


def _routes_into(store: EtcdStore, dest: str) -> dict[str, str]:
    """A route's link goes only with the route: source -> route, of the links into `dest`
    that routes use."""
    routed: dict[str, str] = {}
    for route in store.routes():
        for src, to in zip(route.detector_ids, route.detector_ids[1:], strict=False):
            if to == dest:
                routed.setdefault(src, route.name)  # (the first route, as named before)
    return routed


def _in_use(route: str, src: str, dest: str) -> str:
    return (f"route {route} uses the link {src} -> {dest}; keep it, or change or remove the "
            "route first")


def set_route(store: EtcdStore, route: collector_pb2.Route) -> RouteRecord:
    """Store a route whose every hop is a link."""
    validation.route(route)
    ids = list(route.detector_ids)
    for index in range(1, len(ids)):
        src, dest = ids[index - 1], ids[index]
        if not any(link.src == src for link in store.links(dest)):
            raise InvalidArgument(f"route.detector_ids[{index}]: no link {src} -> {dest} "
                                  "(set it first)")
    stored = store.set_route(wire.route_to_record(route))
    log.info("route %s set: %s", stored.name, " -> ".join(stored.detector_ids))
    return stored


def register(store: EtcdStore, detector: types_pb2.Detector) -> DetectorRecord:
    """Register a detector, or change its entry (name, place, radios)."""
    validation.detector(detector)
    stored = store.register_detector(wire.detector_to_record(detector))
    log.info("detector %s registered", stored.id)
    return stored
