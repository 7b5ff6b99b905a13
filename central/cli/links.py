"""`roadside links set|list`: the directed links src -> dest that travel times are measured on."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from roadside.central.cli.client import (
    add_client_options,
    client_config,
    collector_stub,
    query_stub,
)
from roadside.central.cli.traveltime import BACKFILL_COLUMNS, backfill_fields
from roadside.central.store.records import points
from roadside.central.traveltime.stats import FILTERS
from roadside.common import output
from roadside.common.errors import RoadsideError
from roadside.common.output import Column, write_rows
from roadside.proto.v1 import collector_pb2, query_pb2

LINK_COLUMNS = (
    Column("src_detector_id", "SOURCE"),
    Column("dest_detector_id", "DESTINATION"),
    Column("max_seconds", "MAX SECONDS", right=True),
    Column("length_m", "LENGTH (m)", lambda v: f"{v:.0f}" if v else "-", right=True),
    Column("min_speed_kmh", "MIN km/h", lambda v: f"{v:g}" if v else "-", right=True),
    Column("max_speed_kmh", "MAX km/h", lambda v: f"{v:g}" if v else "-", right=True),
    Column("outlier_filter", "FILTER", lambda v: v or "robust"),
    Column("vehicle_only", "DEVICES", lambda v: "vehicles" if v else "all"),
    Column("geometry", "ROAD", lambda v: f"{len(v)} points" if v else "straight"),
    *BACKFILL_COLUMNS,
)


def parse_source(text: str) -> collector_pb2.LinkSource:
    """SRC:MAX_SECONDS[:LENGTH_M] -> LinkSource; RoadsideError naming --src otherwise."""
    parts = text.split(":")
    hint = "expected SRC:MAX_SECONDS[:LENGTH_M], e.g. north:600:1200"
    if len(parts) not in (2, 3) or not parts[0]:
        raise RoadsideError(f"bad --src {text!r}: {hint}")
    try:
        max_seconds = int(parts[1])
        length_m = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise RoadsideError(f"bad --src {text!r}: {hint}") from None
    if max_seconds <= 0 or length_m < 0:
        raise RoadsideError(f"bad --src {text!r}: MAX_SECONDS must be positive, LENGTH_M >= 0")
    return collector_pb2.LinkSource(
        src_detector_id=parts[0], max_seconds=max_seconds, length_m=length_m
    )


def read_road(text: str) -> tuple[str, list[float]]:
    """SRC=FILE.geojson -> (SRC, longitude, latitude, ...) of the file's LineString (a bare
    geometry, a Feature, or a FeatureCollection's first LineString feature)."""
    src, sep, path = text.partition("=")
    if not sep or not src or not path:
        raise RoadsideError(f"bad --geometry {text!r}: expected SRC=FILE.geojson")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RoadsideError(f"--geometry {src}: {path}: {exc}") from exc
    found = [data] if isinstance(data, dict) else []
    if found and found[0].get("type") == "FeatureCollection":
        found = list(found[0].get("features", []))
    shapes = [f.get("geometry", f) if isinstance(f, dict) else {} for f in found]
    line = next((g.get("coordinates") for g in shapes if g.get("type") == "LineString"), None)
    if not isinstance(line, list) or not all(isinstance(p, list) and len(p) >= 2 for p in line):
        raise RoadsideError(f"--geometry {src}: {path}: no GeoJSON LineString in it")
    return src, [float(c) for p in line for c in p[:2]]


def link_row(link: Any) -> dict[str, Any]:
    return {
        "src_detector_id": link.src_detector_id,
        "dest_detector_id": link.dest_detector_id,
        "max_seconds": link.max_seconds,
        "length_m": link.length_m,
        "min_speed_kmh": link.min_speed_kmh,
        "max_speed_kmh": link.max_speed_kmh,
        "outlier_filter": link.outlier_filter or "robust",
        "vehicle_only": link.vehicle_only,
        "geometry": points(link.geometry),
        **backfill_fields(link),
    }


def _set(args: argparse.Namespace) -> int:
    if not args.src and not args.clear:
        raise RoadsideError(f"links set {args.dest}: give --src SRC:MAX_SECONDS (repeat for "
                            f"several), or --clear to remove every link into {args.dest}")
    if args.src and args.clear:
        raise RoadsideError("links set: --clear removes every link; it takes no --src")
    sources = [parse_source(text) for text in args.src or []]
    roads = dict(read_road(text) for text in args.geometry or [])
    unknown = set(roads) - {s.src_detector_id for s in sources}
    if unknown:
        raise RoadsideError(f"--geometry {sorted(unknown)[0]}: not a --src of this call")
    for s in sources:  # the filters apply to every --src of the call
        s.min_speed_kmh, s.max_speed_kmh = args.min_speed or 0.0, args.max_speed or 0.0
        s.outlier_filter = args.filter or ""
        s.vehicle_only = bool(args.vehicle_only)
        s.geometry.extend(roads.get(s.src_detector_id, []))
    config = client_config(args)
    with collector_stub(config) as stub:
        resp = stub.SetLinks(
            collector_pb2.SetLinksRequest(dest_detector_id=args.dest, sources=sources),
            timeout=config.call_timeout_s,
        )
    write_rows(LINK_COLUMNS, args.format, (link_row(x) for x in resp.links))
    if args.format == "table":
        n = len(resp.links)
        print(f"{args.dest}: {n} incoming link{'' if n == 1 else 's'} (windows computed under "
              "other rules are computed again: see links list)", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    config = client_config(args)
    with query_stub(config) as stub:
        resp = stub.GetLinks(
            query_pb2.GetLinksRequest(dest_detector_id=args.dest or ""),
            timeout=config.call_timeout_s,
        )
    write_rows(LINK_COLUMNS, args.format, (link_row(x) for x in resp.links))
    if not resp.links and args.format == "table":
        into = f" into {args.dest}" if args.dest else ""
        print(f"no links{into}: add them with roadside links set "
              f"{args.dest or 'DEST'} --src SRC:MAX_SECONDS", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "set", formatter_class=raw, help="replace the incoming links of a detector",
        description="Replace every link into DEST with the given sources (--clear: remove "
        "them).\nMAX_SECONDS is the longest travel time still matched; LENGTH_M the road "
        "length.\nA link a route uses can only go with the route (roadside links routes).",
        epilog="examples:\n  roadside links set south-junction --src market-square:800:1420\n"
               "  roadside links set south-junction --src market-square:800:1420 --max-speed 70 "
               "--filter previous-25",
    )
    p.add_argument("dest", metavar="DEST", help="the destination detector id")
    p.add_argument("--src", action="append", metavar="SRC:MAX_SECONDS[:LENGTH_M]",
                   help="a source detector, its max travel time in s and road length in m")
    p.add_argument("--clear", action="store_true", help="remove every link into DEST")
    p.add_argument("--geometry", action="append", metavar="SRC=FILE.geojson",
                   help="the road from SRC, a GeoJSON LineString: drawn on the map and in the "
                        "GeoJSON feed (default: a straight line)")
    p.add_argument("--min-speed", type=float, metavar="KMH",
                   help="slower samples are not this link's travel (needs LENGTH_M; e.g. "
                        "parking, a stop on the way)")
    p.add_argument("--max-speed", type=float, metavar="KMH",
                   help="faster samples are implausible (default: the workers' max_speed_kmh)")
    p.add_argument("--filter", choices=list(FILTERS),
                   help="the outlier filter (default robust; README: Per-link filters)")
    p.add_argument("--vehicle-only", action="store_true",
                   help="match only devices whose Bluetooth Class of Device says vehicle "
                        "(car kits, hands-free): no pedestrians or cyclists in the samples")
    output.add_format_option(p)
    add_client_options(p, collector=True)
    p.set_defaults(func=_set)

    p = sub.add_parser(
        "list", formatter_class=raw, help="the links central knows",
        description="List links src -> dest with their max_seconds and road length.",
        epilog="example:\n  roadside links list --dest south-junction --format json",
    )
    p.add_argument("--dest", metavar="ID", help="only the links into this detector")
    output.add_format_option(p)
    add_client_options(p)
    p.set_defaults(func=_list)
