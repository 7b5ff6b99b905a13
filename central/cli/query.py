"""`roadside query events|tail|detectors|status`: operators read central's query server."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc

from roadside.central.cli.client import (
    ClientConfig,
    add_client_options,
    client_config,
    query_stub,
)
from roadside.central.cli.traveltime import backfill_text
from roadside.common import output
from roadside.common.errors import RoadsideError
from roadside.common.humanize import format_bytes, format_duration, plural, rate_text
from roadside.common.output import Column, Writer, write_rows
from roadside.common.timeparse import format_local, format_utc, parse_time
from roadside.proto.v1 import query_pb2, types_pb2

TAIL_SINCE = "15m"  # a tail first shows what arrived this long ago
PROGRESS_EVERY = 10_000  # events between progress lines on stderr (when it is a terminal)

EVENT_COLUMNS = (
    Column("time", "TIME (UTC)", table=False),
    Column("timestamp_ns", "TIME (local)", lambda v: format_local(int(v)), width=27),
    Column("detector_id", "DETECTOR", width=12),
    Column("device_id", "DEVICE", width=32),
    Column("peak_rssi", "RSSI", width=4, right=True),
    Column("count", "N", width=4, right=True),
    Column("radio", "RADIO", width=5),
    Column("address_kind", "ADDRESS", width=18),
    Column("tagged", "TAG", lambda v: "yes" if v else "", width=3),
    Column("first_ns", "FIRST", table=False),
    Column("last_ns", "LAST", table=False),
    Column("ulid", "ULID", table=False),
)


def _kind(enum_type: Any, prefix: str, value: int) -> str:
    return str(enum_type.Name(value)).removeprefix(prefix).lower()


# events ------------------------------------------------------------------


def _events(args: argparse.Namespace) -> int:
    config = client_config(args)
    since = parse_time(args.since, "--since") if args.since else 0
    until = parse_time(args.until, "--until") if args.until else 0
    if since and until and until <= since:
        raise RoadsideError("--until must be after --since")
    if args.limit < 0:
        raise RoadsideError("--limit must not be negative")
    rows: Iterator[dict[str, Any]] = _read_events(
        config, args.detector or [], since, until, args.limit
    )
    if args.format == "table":  # buffered anyway: show it in time order
        rows = iter(sorted(rows, key=lambda r: (r["timestamp_ns"], r["detector_id"])))
    count = write_rows(EVENT_COLUMNS, args.format, rows, stream=args.format != "table")
    if args.format == "table":
        more = " (--limit reached: there may be more)" if args.limit and count >= args.limit else ""
        print(f"{plural(count, 'event')}{more}", file=sys.stderr)
    if not count:
        print("no events: have agents uploaded to this central (roadside agent run), and "
              "is --since/--until right?", file=sys.stderr)
    return 0


def _read_events(
    config: ClientConfig, detectors: list[str], since: int, until: int, limit: int
) -> Iterator[dict[str, Any]]:
    """Every event of the range, up to `limit` (0 = all): one StreamEventColumns call (the
    range at one revision, a page of columns at a time), ended early at the limit."""
    count = 0
    progress = sys.stderr.isatty()
    with query_stub(config, role="analyst") as stub:  # per-device data
        stream = stub.StreamEventColumns(query_pb2.StreamEventsRequest(
            detector_ids=detectors, since_ns=since, until_ns=until))
        try:
            for page in stream:
                for row in column_rows(page):
                    yield row
                    count += 1
                    if count == limit:
                        return
                if progress and count // PROGRESS_EVERY > (count - len(page.ulid)) // \
                        PROGRESS_EVERY:
                    print(f"... {count} events", file=sys.stderr, flush=True)
        finally:
            stream.cancel()  # (done, or stopped at the limit: nothing more is sent)


def column_rows(page: query_pb2.EventColumns) -> Iterator[dict[str, Any]]:
    """The rows of a page of columns (EVENT_COLUMNS' values)."""
    radios = {n: _kind(types_pb2.RadioKind, "RADIO_KIND_", n) for n in set(page.radio)}
    kinds = {n: _kind(types_pb2.AddressKind, "ADDRESS_KIND_", n) for n in set(page.address_kind)}
    for i, t in enumerate(page.timestamp_ns):
        yield {
            "time": format_utc(t), "timestamp_ns": t,
            "detector_id": page.detector_ids[page.detector[i]],
            "device_id": page.device_id[i], "peak_rssi": page.peak_rssi[i],
            "count": page.count[i], "radio": radios[page.radio[i]],
            "address_kind": kinds[page.address_kind[i]], "tagged": page.tagged[i],
            "first_ns": page.first_ns[i], "last_ns": page.last_ns[i], "ulid": page.ulid[i],
        }


# tail --------------------------------------------------------------------


def _tail(args: argparse.Namespace) -> int:
    config = client_config(args)
    since = parse_time(args.since, "--since")
    with query_stub(config, role="analyst") as stub:  # per-device data
        # fail fast on a bad request or an unreachable central, before streaming
        stub.GetEvents(
            query_pb2.GetEventsRequest(detector_ids=args.detector, since_ns=since, limit=1),
            timeout=config.call_timeout_s,
        )
        writer = Writer(EVENT_COLUMNS, args.format, sys.stdout, stream=True)
        stream = stub.StreamEventColumns(
            query_pb2.StreamEventsRequest(detector_ids=args.detector, since_ns=since, follow=True)
        )
        try:
            for page in stream:
                for row in column_rows(page):
                    writer.write(row)
        except KeyboardInterrupt:
            stream.cancel()
        except grpc.RpcError:
            if stream.code() != grpc.StatusCode.CANCELLED:
                raise
    writer.close()
    return 0


# detectors ---------------------------------------------------------------

DETECTOR_COLUMNS = (
    Column("id", "ID"),
    Column("name", "NAME"),
    Column("latitude", "LAT", lambda v: f"{v:.5f}", right=True),
    Column("longitude", "LON", lambda v: f"{v:.5f}", right=True),
    Column("radios", "RADIOS"),
    Column("registered_ns", "REGISTERED (local)", lambda v: format_local(int(v))),
)


def _detectors(args: argparse.Namespace) -> int:
    config = client_config(args)
    with query_stub(config) as stub:
        resp = stub.ListDetectors(
            query_pb2.ListDetectorsRequest(), timeout=config.call_timeout_s
        )
    write_rows(DETECTOR_COLUMNS, args.format, ({
        "id": d.id, "name": d.name, "latitude": d.latitude, "longitude": d.longitude,
        "radios": [_kind(types_pb2.RadioKind, "RADIO_KIND_", r) for r in d.radios],
        "registered_ns": d.registered_ns,
    } for d in resp.detectors))
    if not resp.detectors:
        print("no detectors yet: `roadside agent init` registers a box's detector",
              file=sys.stderr)
    return 0


# status ------------------------------------------------------------------


def _age(now_ns: int, t_ns: int) -> str:
    if t_ns <= 0:
        return "never"
    return format_duration((now_ns - t_ns) / 1e9) + " ago"


STATUS_COLUMNS = (
    Column("detector_id", "DETECTOR"),
    Column("reported_ns", "REPORTED (local)", lambda v: format_local(int(v))),
    Column("buffer_depth", "BUFFERED", right=True),
    Column("oldest_unsent_age_s", "OLDEST UNSENT", lambda v: format_duration(float(v)), right=True),
    Column("last_upload", "LAST UPLOAD", machine=False),
    Column("sources", "SOURCES (sightings/min)", lambda v: ",".join(
        f"{x['name']}:{x['state']} {rate_text(x['state'], x['sightings_per_minute'])}"
        for x in v) or "-"),
    Column("clock_sync", "CLOCK"),
    Column("clock_offset_s", "OFFSET", lambda v: "-" if v is None else f"{v:+.1f} s",
           right=True),
    Column("clock_flagged", "CLOCK OFF", lambda v: "yes" if v else ""),
    Column("disk_free", "DISK FREE", machine=False, right=True),
    Column("dropped_passes", "DROPPED", right=True),
    Column("lost_passes", "LOST", right=True),
    Column("battery_voltage", "BATTERY", lambda v: f"{v:.2f} V" if v else "-", right=True),
    Column("last_upload_ns", "", table=False),
    Column("disk_free_bytes", "", table=False),
    Column("agent_version", "", table=False),
    Column("set_aside_rows", "", table=False),
    Column("over_budget_sightings", "", table=False),
    Column("erased_epoch_sightings", "", table=False),
    Column("task_restarts", "", table=False),
)


def status_row(s: types_pb2.AgentStatus, now_ns: int) -> dict[str, Any]:
    sources = [{"name": x.name, "state": x.state, "sightings_per_minute": x.sightings_per_minute,
                "restarts": x.restarts, "last_error": x.last_error} for x in s.sources]
    return {
        "detector_id": s.detector_id,
        "reported_ns": s.reported_ns,
        "buffer_depth": s.buffer_depth,
        "oldest_unsent_age_s": s.oldest_unsent_age_s,
        "last_upload": _age(now_ns, s.last_upload_ns),
        "last_upload_ns": s.last_upload_ns,
        "sources": sources,
        "clock_sync": _kind(types_pb2.ClockSync, "CLOCK_SYNC_", s.clock_sync),
        "clock_offset_s": s.clock_offset_s if s.clock_offset_samples else None,
        "clock_flagged": s.clock_flagged,
        "disk_free": format_bytes(s.disk_free_bytes),
        "disk_free_bytes": s.disk_free_bytes,
        "dropped_passes": s.dropped_passes,
        "battery_voltage": s.battery_voltage,
        "agent_version": s.agent_version,
        "lost_passes": s.lost_passes,
        "set_aside_rows": s.set_aside_rows,
        "over_budget_sightings": s.over_budget_sightings,
        "erased_epoch_sightings": s.erased_epoch_sightings,
        "task_restarts": {t.name: t.restarts for t in s.tasks},
    }


def _status(args: argparse.Namespace) -> int:
    config = client_config(args)
    with query_stub(config) as stub:
        resp = stub.GetStatus(
            query_pb2.GetStatusRequest(detector_ids=args.detector or []),
            timeout=config.call_timeout_s,
        )
        running = []
        if args.format == "table":  # what the travel-time workers are catching up on
            links = stub.GetLinks(query_pb2.GetLinksRequest(), timeout=config.call_timeout_s)
            routes = stub.ListRoutes(query_pb2.ListRoutesRequest(),
                                     timeout=config.call_timeout_s)
            running = [(f"{x.src_detector_id} -> {x.dest_detector_id}", x.backfill)
                       for x in links.links if x.HasField("backfill")]
            running += [(f"route {r.name}", r.backfill) for r in routes.routes
                        if r.HasField("backfill")]
    now = time.time_ns()
    write_rows(STATUS_COLUMNS, args.format, (status_row(s, now) for s in resp.statuses))
    if args.format == "table" and not resp.statuses:
        print("no status reports yet", file=sys.stderr)
    for label, progress in running:
        print(f"travel times {label}: {backfill_text(progress)}", file=sys.stderr)
    return 0


# parsers -----------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "events", formatter_class=raw,
        help="events (passes) at detectors over a time range",
        description="Print the passes stored for detectors over [--since, --until).\n"
        "T is RFC 3339 (2026-11-27T18:00:00Z; no offset = local time) or relative\n"
        "(90s, 15m, 2h, 1d, now: that long before now).",
        epilog="example:\n  roadside query events --detector north-gate --detector mill-bridge "
        "--since 2h --format csv",
    )
    p.add_argument("--detector", action="append", metavar="ID",
                   help="a detector id (repeat for several; default: every detector)")
    p.add_argument("--since", metavar="T", help="from this time, inclusive (default: the start)")
    p.add_argument("--until", metavar="T", help="to this time, exclusive (default: now on)")
    p.add_argument("--limit", type=int, default=0, metavar="N",
                   help="print at most N events (default 0: all)")
    output.add_format_option(p, "table (local times)")
    add_client_options(p)
    p.set_defaults(func=_events)

    p = sub.add_parser(
        "tail", formatter_class=raw, help="follow new events live until Ctrl-C",
        description="Print events as central commits them (an etcd watch), until Ctrl-C.\n"
        f"First prints what is stored since --since (default {TAIL_SINCE}).",
        epilog="example (until Ctrl-C):\n  roadside query tail --detector north-gate --format json",
    )
    p.add_argument("--detector", action="append", required=True, metavar="ID",
                   help="a detector id (repeat for several)")
    p.add_argument("--since", metavar="T", default=TAIL_SINCE,
                   help=f"show stored events from this time first (default {TAIL_SINCE})")
    output.add_format_option(p, "table (local times)")
    add_client_options(p)
    p.set_defaults(func=_tail)

    p = sub.add_parser(
        "detectors", formatter_class=raw, help="the registered detectors",
        description="List the detectors registered with central: id, name, position, radios.",
        epilog="examples:\n  roadside query detectors\nin production:\n"
               "  roadside query detectors --query-host central.example.net:8000",
    )
    output.add_format_option(p, "table (local times)")
    add_client_options(p)
    p.set_defaults(func=_detectors)

    p = sub.add_parser(
        "status", formatter_class=raw, help="the agents' latest health reports",
        description="The latest report of each agent: buffer depth, oldest unsent pass, last\n"
        "upload, per-source state and sightings per minute, clock sync, disk free.",
        epilog="example:\n  roadside query status --detector north-gate",
    )
    p.add_argument("--detector", action="append", metavar="ID",
                   help="only this detector (repeat for several; default: all)")
    output.add_format_option(p, "table (local times)")
    add_client_options(p)
    p.set_defaults(func=_status)
