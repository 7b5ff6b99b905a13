"""`roadside query travel-times` and `roadside query route`: travel-time windows, as
tables, JSON, CSV, a PNG chart, or live as windows complete."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from roadside.central.cli.client import add_client_options, client_config, query_stub
from roadside.central.traveltime.model import WindowSummary
from roadside.central.traveltime.query import from_proto
from roadside.common import output
from roadside.common.errors import RoadsideError
from roadside.common.humanize import plural
from roadside.common.output import Column, write_rows
from roadside.common.timeparse import NS_PER_S, format_utc, parse_time
from roadside.proto.v1 import query_pb2, types_pb2

DEFAULT_SINCE = "1d"
ARROW = " \u2192 "
HISTORY_NS = 7 * 86_400 * NS_PER_S  # the free-flow reference: the week before the chart's end


NO_WORKER = (
    "no travel-time worker is running: windows are computed by one (`roadside central serve` "
    "runs one with its embedded etcd; otherwise start `roadside central worker`)"
)
NONE_IN_RANGE = (
    "no windows in that time range: a window is published once it has closed (its end plus "
    "the worker's grace), and there are none before the destination's first pass"
)


def backfill_text(p: types_pb2.WindowProgress) -> str:
    """"computing older windows: 120 of 864 done, back to 2026-11-28 09:00 (worker w1)"."""
    done = p.windows_total - p.windows_left
    return (f"computing older windows: {done} of {p.windows_total} done, back to "
            f"{_local_minute(p.oldest_window_ns)} (worker {p.worker})")


BACKFILL_COLUMNS = (
    Column("backfill", "OLDER WINDOWS", machine=False),
    Column("backfill_windows_left", "", table=False),
    Column("backfill_windows_total", "", table=False),
)


def backfill_fields(msg: Any) -> dict[str, Any]:
    """A link's or route's backfill for BACKFILL_COLUMNS (0 left, 0 total: none running)."""
    running = msg.HasField("backfill")
    p = msg.backfill
    return {
        "backfill": f"computing: {p.windows_total - p.windows_left} of {p.windows_total}"
        if running else "-",
        "backfill_windows_left": p.windows_left,
        "backfill_windows_total": p.windows_total,
    }


NO_LIVE = ("no live figure yet: a worker makes one for each link and route every minute "
           "(setting live_every_s)")


def why_no_windows(resp: query_pb2.GetTravelTimesResponse) -> str:
    """What is really happening when a query finds no window."""
    if resp.HasField("backfill"):
        return f"no windows there yet: {backfill_text(resp.backfill)}; ask again shortly"
    return NONE_IN_RANGE if resp.workers else NO_WORKER


def _local_minute(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / NS_PER_S).astimezone().strftime("%Y-%m-%d %H:%M")


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _minutes(value: Any) -> str:
    return "-" if value is None else f"{value / 60:.2f}"


COLUMNS = (
    Column("window_start_ns", "WINDOW (local)", _local_minute, width=16),
    Column("count", "DEVICES", right=True, width=7),
    Column("median_s", "MEDIAN min", _minutes, right=True, width=10),
    Column("p10_s", "P10 min", _minutes, right=True, width=7),
    Column("p25_s", "P25", _minutes, table=False),
    Column("p75_s", "P75", _minutes, table=False),
    Column("p90_s", "P90 min", _minutes, right=True, width=7),
    Column("mad_s", "MAD s", _seconds, right=True, width=6),
    Column("normal_s", "NORMAL min", _minutes, right=True, width=10),
    Column("delay_s", "DELAY min", _minutes, right=True, width=9),
    Column("state", "SUPPRESSED", width=10, machine=False),  # yes, no data, or empty
    Column("suppressed", "", table=False),
    Column("no_data", "", table=False),
    Column("rejected", "REJECTED", lambda v: ",".join(f"{k}:{n}" for k, n in v.items()) or "-",
           width=20),
    Column("window_end_ns", "END", table=False),
    Column("window_start", "START (RFC 3339)", table=False),
    Column("unmatched", "UNMATCHED", table=False),
    Column("samples_by_class", "BY CLASS", table=False),
    Column("samples_by_address_kind", "BY ADDRESS KIND", table=False),
    Column("vehicle_only", "VEHICLES ONLY", table=False),
    Column("clock_corrected_s", "CLOCK CORRECTED", table=False),
    Column("clock_excluded", "CLOCK EXCLUDED", table=False),
    Column("computed_ns", "COMPUTED", table=False),
    Column("provisional", "PROVISIONAL", table=False),
)


def window_row(w: WindowSummary) -> dict[str, Any]:
    f = w.figures
    return {
        "window_start_ns": w.window_start_ns,
        "window_end_ns": w.window_end_ns,
        "window_start": format_utc(w.window_start_ns),
        "count": w.count,
        "median_s": f.median_s if f else None,
        "p10_s": f.p10_s if f else None,
        "p25_s": f.p25_s if f else None,
        "p75_s": f.p75_s if f else None,
        "p90_s": f.p90_s if f else None,
        "mad_s": f.mad_s if f else None,
        "normal_s": w.normal_s,
        "delay_s": f.median_s - w.normal_s if f and w.normal_s else None,
        "suppressed": w.suppressed,
        "no_data": w.no_data,
        "state": "no data" if w.no_data else "yes" if w.suppressed else "",
        "rejected": dict(w.rejections),
        "samples_by_class": dict(w.by_class),
        "samples_by_address_kind": dict(w.by_address_kind),
        "vehicle_only": w.vehicle_only,
        "clock_corrected_s": dict(w.clock_corrected),
        "clock_excluded": list(w.clock_excluded),
        "unmatched": w.unmatched,
        "computed_ns": w.computed_ns,
        "provisional": w.provisional,
    }


def _request(args: argparse.Namespace, **target: Any) -> query_pb2.GetTravelTimesRequest:
    if args.live:
        for flag, given in (("--until", args.until), ("--plot", args.plot),
                            ("--follow", args.follow)):
            if given:
                raise RoadsideError(f"--live shows the current figure: it takes no {flag}")
        return query_pb2.GetTravelTimesRequest(live=True, **target)
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until") if args.until else 0
    if until and until <= since:
        raise RoadsideError("--until must be after --since")
    if args.speed and args.plot is None:
        raise RoadsideError("--speed changes the plot: use it with --plot FILE.png")
    if args.plot is not None and args.follow:
        raise RoadsideError("--plot draws a time range: use it without --follow")
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise RoadsideError(f"--plot: {str(args.plot)!r} should end in .png")
    if args.plot is not None and not args.plot.parent.exists():
        raise RoadsideError(f"--plot: the directory {args.plot.parent} does not exist "
                            "(make it first)")
    return query_pb2.GetTravelTimesRequest(
        since_ns=since, until_ns=until, include_samples=args.plot is not None,
        follow=args.follow, **target,
    )


def _print(args: argparse.Namespace, windows: Iterable[WindowSummary], stream: bool) -> int:
    return write_rows(COLUMNS, args.format, (window_row(w) for w in windows), stream=stream)


@dataclass(frozen=True)
class PlotContext:
    """What a chart shows beside the windows."""

    title: str
    reference_s: float | None  # free flow, from the last week's windows
    length_m: float | None  # with --speed: the road length


def _detectors(stub: Any, request: query_pb2.GetTravelTimesRequest, timeout: float,
               ) -> list[str]:
    """The link's two detectors, or the route's in driving order."""
    if request.WhichOneof("target") != "route":
        return [request.link.src_detector_id, request.link.dest_detector_id]
    routes = stub.ListRoutes(query_pb2.ListRoutesRequest(), timeout=timeout).routes
    return next((list(r.detector_ids) for r in routes if r.name == request.route), [])


def _road_length(stub: Any, detectors: list[str], timeout: float) -> float:
    """The sum of the lengths of the links between `detectors`; 0 when one is unknown."""
    hops = list(itertools.pairwise(detectors))
    links = stub.GetLinks(query_pb2.GetLinksRequest(), timeout=timeout).links
    lengths = {(lk.src_detector_id, lk.dest_detector_id): lk.length_m for lk in links}
    each = [lengths.get(hop, 0.0) for hop in hops]
    return sum(each) if all(each) else 0.0


def _plot_context(args: argparse.Namespace, stub: Any, request: query_pb2.GetTravelTimesRequest,
                  title: str, timeout: float) -> PlotContext:
    from roadside.central.traveltime.reference import free_flow_s

    end = request.until_ns or time.time_ns()
    week = query_pb2.GetTravelTimesRequest()
    week.CopyFrom(request)
    week.since_ns, week.until_ns, week.include_samples = max(end - HISTORY_NS, 1), end, False
    history = stub.GetTravelTimes(week, timeout=timeout).windows
    reference = free_flow_s([from_proto(m) for m in history])
    detectors = _detectors(stub, request, timeout)
    if request.WhichOneof("target") == "route":
        title = f"{title}: {ARROW.join(detectors)}"
    length = None
    if args.speed:
        length = _road_length(stub, detectors, timeout)
        if not length:
            raise RoadsideError(f"--speed: the road length of {title} is not known; set it "
                                "with `roadside links set DEST --src SRC:MAX_SECONDS:LENGTH_M`")
    return PlotContext(title, reference, length)


def _show(args: argparse.Namespace, request: query_pb2.GetTravelTimesRequest, title: str) -> int:
    config = client_config(args)
    role = "analyst" if request.include_samples else "admin"  # samples are per-device data
    context = None
    with query_stub(config, role) as stub:
        if request.follow:
            stream = stub.StreamTravelTimes(request)
            try:
                _print(args, (from_proto(m) for m in stream), stream=True)
            except KeyboardInterrupt:
                stream.cancel()
            return 0
        resp = stub.GetTravelTimes(request, timeout=config.call_timeout_s)
        if args.plot is not None and resp.windows:
            context = _plot_context(args, stub, request, title, config.call_timeout_s)
    windows = [from_proto(m) for m in resp.windows]
    if args.plot is not None:  # the file first: a reader closing stdout cannot stop it
        if not windows or context is None:
            print(why_no_windows(resp), file=sys.stderr)
            raise RoadsideError(f"--plot: no windows of {title} in that time range")
        _write_plot(args.plot, windows, context)
    _print(args, windows, stream=False)
    if args.format == "table" and request.live:
        for w in windows:
            minutes = (w.window_end_ns - w.window_start_ns) / 60e9
            print(f"{title}: live, the last {minutes:g} min to {_local_minute(w.window_end_ns)}"
                  f", provisional (recomputed every minute; final once its window is "
                  "published)", file=sys.stderr)
    elif args.format == "table":
        suppressed = sum(1 for w in windows if w.suppressed)
        empty = sum(1 for w in windows if w.no_data)
        print(f"{title}: {plural(len(windows), 'window')}, {suppressed} suppressed"
              + (f", {empty} with no data" if empty else ""), file=sys.stderr)
    if not windows and request.live:
        print(NO_LIVE if resp.workers else NO_WORKER, file=sys.stderr)
    elif not windows:
        print(why_no_windows(resp), file=sys.stderr)
    elif resp.HasField("backfill"):
        print(backfill_text(resp.backfill), file=sys.stderr)
    elif not resp.workers:
        print(f"note: {NO_WORKER}", file=sys.stderr)
    if args.plot is not None:
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def _write_plot(path: Path, windows: list[WindowSummary], context: PlotContext) -> None:
    from roadside.central.traveltime.plot import plot_windows  # matplotlib only when plotting

    what = "Speed" if context.length_m else "Travel time"
    try:
        plot_windows(windows, path, f"{what} {context.title}", context.reference_s,
                     context.length_m)
    except OSError as exc:
        raise RoadsideError(f"--plot {path}: cannot write: {exc.strerror or exc}") from exc


def _link(args: argparse.Namespace) -> int:
    request = _request(args, link=query_pb2.LinkRef(
        src_detector_id=args.src, dest_detector_id=args.dest))
    return _show(args, request, f"{args.src}{ARROW}{args.dest}")


def _route(args: argparse.Namespace) -> int:
    return _show(args, _request(args, route=args.name), f"route {args.name}")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="T", default=DEFAULT_SINCE,
                   help=f"windows from this time (default {DEFAULT_SINCE}: a day ago)")
    p.add_argument("--until", metavar="T", help="windows before this time (default: now on)")
    output.add_format_option(p, "table (local times, minutes; JSON and CSV in seconds)")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also draw a PNG: devices as dots, median line, 10-90 %% band, "
                   "suppressed windows marked, free-flow line (from the week before)")
    p.add_argument("--speed", action="store_true",
                   help="with --plot: draw speed in km/h (needs the road length of the link, "
                   "or of every link of the route)")
    p.add_argument("--follow", action="store_true",
                   help="keep printing windows as they are computed or recomputed (Ctrl-C)")
    p.add_argument("--live", action="store_true",
                   help="the current figure instead of windows: the last 5 minutes, "
                   "recomputed every minute by the workers, provisional until its window is "
                   "published")
    add_client_options(p)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    raw = argparse.RawDescriptionHelpFormatter
    times = ("T is RFC 3339 (2026-11-27T18:00:00Z; no offset = local time) or relative\n"
             "(90s, 15m, 2h, 1d: that long before now). Windows with fewer devices than\n"
             "k (default 5) are suppressed: counted, but without figures.")
    p = sub.add_parser(
        "travel-times", formatter_class=raw,
        help="travel times over a link, per window",
        description="Travel time from SRC to DEST per window: devices, median, 10th and 90th\n"
        "percentiles, MAD, rejected samples and why.\n" + times,
        epilog="examples:\n"
        "  roadside query travel-times --from north-gate --to mill-bridge --since 6h\n"
        "  roadside query travel-times --from north-gate --to mill-bridge --format json\n"
        "  roadside query travel-times --from north-gate --to mill-bridge --since 1d "
        "--plot day.png\n"
        "  roadside query travel-times --from north-gate --to mill-bridge --live",
    )
    p.add_argument("--from", dest="src", required=True, metavar="SRC",
                   help="the source detector id")
    p.add_argument("--to", dest="dest", required=True, metavar="DEST",
                   help="the destination detector id")
    _common(p)
    p.set_defaults(func=_link)

    p = sub.add_parser(
        "route", formatter_class=raw,
        help="travel times along a named route, per window",
        description="Travel time along route NAME per window, from devices seen at every\n"
        "detector of the route (not the sum of its links' medians).\n" + times,
        epilog="example:\n  roadside query route corridor --since 3h --plot route.png",
    )
    p.add_argument("name", metavar="NAME", help="the route (see `roadside links routes`)")
    _common(p)
    p.set_defaults(func=_route)
