"""`roadside links route|routes`: named routes, sequences of linked detectors in driving order."""

from __future__ import annotations

import argparse
from typing import Any

from roadside.central.cli.client import (
    add_client_options,
    client_config,
    collector_stub,
    query_stub,
)
from roadside.central.cli.traveltime import BACKFILL_COLUMNS, backfill_fields
from roadside.common import output
from roadside.common.output import Column, write_rows
from roadside.proto.v1 import collector_pb2, query_pb2

ROUTE_COLUMNS = (
    Column("name", "ROUTE"),
    Column("detector_ids", "DETECTORS (driving order)", lambda v: " -> ".join(v)),
    *BACKFILL_COLUMNS,
)


def route_row(route: Any) -> dict[str, Any]:
    return {"name": route.name, "detector_ids": list(route.detector_ids),
            **backfill_fields(route)}


def _write(args: argparse.Namespace, routes: list[Any]) -> None:
    write_rows(ROUTE_COLUMNS, args.format, (route_row(r) for r in routes))


def _set(args: argparse.Namespace) -> int:
    config = client_config(args)
    route = collector_pb2.Route(name=args.name, detector_ids=args.detectors)
    with collector_stub(config) as stub:
        resp = stub.SetRoute(
            collector_pb2.SetRouteRequest(route=route), timeout=config.call_timeout_s
        )
    _write(args, [resp.route])
    return 0


def _list(args: argparse.Namespace) -> int:
    config = client_config(args)
    with query_stub(config) as stub:
        resp = stub.ListRoutes(query_pb2.ListRoutesRequest(), timeout=config.call_timeout_s)
    _write(args, list(resp.routes))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "route", formatter_class=raw, help="define (or redefine) a named route",
        description="Define route NAME as detectors in driving order; each consecutive pair\n"
        "must be a link already (`roadside links set`). Its travel time per window comes\n"
        "from devices seen at every detector of the route.",
        epilog="example:\n  roadside links route main-street north-gate mill-bridge market-square",
    )
    p.add_argument("name", metavar="NAME", help="route name: [a-z0-9][a-z0-9_-]{0,62}")
    p.add_argument("detectors", nargs="+", metavar="DETECTOR",
                   help="detector ids in driving order (at least two)")
    output.add_format_option(p)
    add_client_options(p, collector=True)
    p.set_defaults(func=_set)

    p = sub.add_parser(
        "routes", formatter_class=raw, help="the routes central knows",
        description="List the named routes and their detectors in driving order.",
        epilog="example:\n  roadside links routes --format json",
    )
    output.add_format_option(p)
    add_client_options(p)
    p.set_defaults(func=_list)
