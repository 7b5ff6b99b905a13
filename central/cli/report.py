"""`roadside report reliability|profile|coverage|od`: what a traffic analyst asks of the
history, computed on DuckDB over the archive and etcd (central/traveltime/reports.py).

Run where central's etcd (and its archive directory) is reachable, with central's settings
(--config, ROADSIDE_*, flags), as `roadside archive`. Tables, CSV, JSON or Parquet (--out),
and a PNG chart (--plot).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from pathlib import Path
from typing import Any

import yaml

from roadside.central.cli.pki import control_action, control_config, control_store
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import downtime, od, reports, store
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.central.traveltime.model import Target
from roadside.common.errors import RoadsideError
from roadside.common.output import Column, write_rows
from roadside.common.timeparse import parse_time

DEFAULTS = TravelTimeConfig()


def _num(digits: int) -> Any:
    return lambda v: "-" if v is None else f"{v:.{digits}f}"


RELIABILITY = [Column("group", "GROUP"), Column("windows", "WINDOWS", right=True),
               Column("mean_s", "MEAN s", _num(1), right=True),
               Column("median_s", "MEDIAN s", _num(1), right=True),
               Column("p95_s", "95th s", _num(1), right=True),
               Column("free_flow_s", "FREE FLOW s", _num(1), right=True),
               Column("tti", "TTI", _num(2), right=True), Column("pti", "PTI", _num(2), right=True),
               Column("bi", "BI", _num(2), right=True)]
PROFILE = [Column("weekday", "WEEKDAY", right=True), Column("hour", "HOUR", right=True),
           Column("windows", "WINDOWS", right=True),
           Column("median_s", "MEDIAN s", _num(1), right=True),
           Column("p10_s", "10% s", _num(1), right=True),
           Column("p90_s", "90% s", _num(1), right=True)]
COVERAGE = [Column("windows_expected", "EXPECTED", right=True),
            Column("published", "PUBLISHED", right=True),
            Column("suppressed", "SUPPRESSED", right=True),
            Column("without_data", "NO DATA", right=True),
            Column("published_share", "PUBLISHED %", lambda v: f"{100 * v:.1f}", right=True),
            Column("suppressed_share", "SUPPRESSED %", lambda v: f"{100 * v:.1f}", right=True),
            Column("samples_per_hour", "SAMPLES/h", _num(1), right=True),
            Column("clock_excluded_windows", "CLOCK OFF", right=True),
            Column("detector_downtime", "DOWN h", right=True),
            Column("downtime_hours", "DOWN h BY DETECTOR", table=False),
            Column("windows_stored", "STORED", right=True, table=False)]
OD = [Column("origin", "ORIGIN"), Column("destination", "DESTINATION"),
      Column("devices", "DEVICES", lambda v: "<k" if v is None else str(v), right=True),
      Column("suppressed", "SUPPRESSED", table=False)]


def add_parser(actions: Any) -> None:
    a = _action(actions, "reliability", "TTI, PTI, buffer index and 95th percentile of a "
                "link or route", "--by day")
    a.add_argument("--by", choices=sorted(reports.GROUPS), default="period",
                   help="one row for the whole period (default), or per day, weekday "
                   "(1 = Monday) or hour of the day, on the site's clock")
    a.add_argument("--free-flow-s", type=float, metavar="S",
                   help="free-flow travel time (default: the period's 15th percentile)")
    a.set_defaults(func=_reliability)
    a = _action(actions, "profile", "median travel time by weekday and hour of a link or route",
                "")
    a.set_defaults(func=_profile)
    a = _action(actions, "coverage", "data quality of a link or route: windows published, "
                "suppressed, empty", "")
    a.set_defaults(func=_coverage)
    a = _action(actions, "od", "origin-destination matrix: devices per detector pair "
                "(audited)", "", target=False)
    a.add_argument("--k", type=int, default=DEFAULTS.k,
                   help=f"cells under k devices are suppressed (default {DEFAULTS.k})")
    a.add_argument("--zones", type=Path, metavar="FILE.yaml",
                   help="group detectors into zones (zones: {NAME: [DETECTOR, ...]}): the "
                   "matrix is between zones (default: between detectors)")
    a.set_defaults(func=_od)


def _action(actions: Any, name: str, text: str, extra: str, target: bool = True,
            ) -> argparse.ArgumentParser:
    which = "--link market-square south-junction " if target else ""
    a = control_action(actions, name, text,
                       f"roadside report {name} {which}--since -7d {extra}".strip(),
                       f"roadside report {name} {which}--since 2026-11-01 \\\n"
                       f"      --until 2026-12-01 --format csv > {name}.csv")
    if target:
        group = a.add_mutually_exclusive_group(required=True)
        group.add_argument("--link", nargs=2, metavar=("SRC", "DEST"), help="a link")
        group.add_argument("--route", metavar="NAME", help="a named route")
    a.add_argument("--since", default="-7d", metavar="T",
                   help="from this time (RFC 3339, a date, or -7d; default -7d)")
    a.add_argument("--until", default="now", metavar="T", help="until this time (default now)")
    a.add_argument("--time-zone", metavar="ZONE",
                   help="the site's clock for days, weekdays and hours (IANA; default: "
                   "central's http_time_zone, else UTC)")
    a.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table",
                   help="table (default), csv, json, or parquet (needs --out)")
    a.add_argument("--out", type=Path, metavar="FILE", help="write there instead of stdout")
    a.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also draw it: a PNG, or a page of its own (FILE.html)")
    return a


def _span(args: argparse.Namespace) -> tuple[int, int]:
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    if until <= since:
        raise RoadsideError(f"--until: {args.until} is not after --since {args.since}")
    return since, until


def _target(args: argparse.Namespace, central: Any) -> Target:
    if args.link:
        src, dest = args.link
        found = [lk for lk in central.links() if (lk.src, lk.dest) == (src, dest)]
        if not found:
            raise RoadsideError(f"--link: no link {src} -> {dest} (roadside links list)")
        return store.link_target(found[0])
    routes = {r.name: r for r in central.routes()}
    if args.route not in routes:
        raise RoadsideError(f"--route: no route {args.route!r} (roadside links routes)")
    return store.route_target(routes[args.route], central.links(), DEFAULTS.route_max_seconds)


def _windows_report(args: argparse.Namespace, with_downtime: bool = False
                    ) -> tuple[Any, int, int, str, dict[str, int]]:
    """The target's windows of the period (and its detectors' downtime when asked), its
    span and the site's clock."""
    config = control_config(args)
    since, until = _span(args)
    down: dict[str, int] = {}
    with control_store(config) as central:
        target = _target(args, central)
        table = reports.history(central.client, central.namespace, target, since, until)
        if with_downtime:
            down = downtime.downtime(EventReader(central, None), config.archive_dir,
                                     target.detectors, since, until)
    zone = args.time_zone or config.http_time_zone or "UTC"
    return table, since, until, zone, down


def _reliability(args: argparse.Namespace) -> int:
    table, _since, _until, zone, _down = _windows_report(args)
    rows = reports.reliability(table, args.by, zone, args.free_flow_s)
    return _emit(args, RELIABILITY, rows, "reliability")


def _profile(args: argparse.Namespace) -> int:
    table, _since, _until, zone, _down = _windows_report(args)
    return _emit(args, PROFILE, reports.profile(table, zone), "profile")


def _coverage(args: argparse.Namespace) -> int:
    table, since, until, _zone, down = _windows_report(args, with_downtime=True)
    rows = reports.coverage(table, since, until, DEFAULTS.window_s)
    downtime.add_to(rows, down)
    return _emit(args, COVERAGE, rows, "coverage")


def _od(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise RoadsideError(f"--k: must be at least 1, got {args.k}")
    config = control_config(args)
    since, until = _span(args)
    with control_store(config) as central:
        links: list[LinkRecord] = central.links()
        reader = EventReader(central, config.archive_dir)
        passes = od.passes_table(reader.iter_events(EventQuery((), since, until)))
        # per-device data was read: who and what go to the audit log
        central.put_audit(f"cli:{getpass.getuser()}", "report od",
                          f"{args.since}..{args.until}: {passes.num_rows} passes")
    zones = _zones(args.zones) if args.zones else None
    rows = od.matrix(passes, links, DEFAULTS.route_max_seconds, args.k, zones)
    return _emit(args, OD, rows, "od")


def _zones(path: Path) -> dict[str, str]:
    """detector -> zone from a YAML file {zones: {NAME: [DETECTOR, ...]}}."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RoadsideError(f"--zones: {path}: {exc}") from exc
    zones = data.get("zones") if isinstance(data, dict) else None
    if not isinstance(zones, dict) or not all(
            isinstance(v, list) and all(isinstance(d, str) for d in v) for v in zones.values()):
        raise RoadsideError(f"--zones: {path}: expected zones: {{NAME: [DETECTOR, ...]}}")
    out: dict[str, str] = {}
    for zone, detectors in zones.items():
        for detector in detectors:
            if detector in out:
                raise RoadsideError(f"--zones: detector {detector} is in zones {out[detector]}"
                                    f" and {zone}")
            out[detector] = str(zone)
    return out


def _emit(args: argparse.Namespace, columns: list[Column], rows: list[dict[str, Any]],
          name: str) -> int:
    if args.plot is not None:
        from roadside.central.traveltime.report_plot import plot  # matplotlib when plotting

        plot(name, rows, args.plot)
    if args.format == "parquet":
        if args.out is None:
            raise RoadsideError("--format parquet: give --out FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), args.out)
    elif args.out is not None:
        with args.out.open("w") as out, contextlib.redirect_stdout(out):
            write_rows(columns, args.format, rows)
    else:
        write_rows(columns, args.format, rows)
    if not rows:
        print(f"no data for this {name} report in the period", file=sys.stderr)
    return 0
