"""`roadside audit list`: who read per-device data and who changed what (admin only)."""

from __future__ import annotations

import argparse
from typing import Any

from roadside.central.cli.client import add_client_options, client_config, query_stub
from roadside.common.output import Column, add_format_option, write_rows
from roadside.common.timeparse import format_local, parse_time
from roadside.proto.v1 import query_pb2

COLUMNS = (
    Column("at_ns", "WHEN (local)", lambda v: format_local(int(v))),
    Column("who", "WHO"),
    Column("method", "CALL"),
    Column("what", "WHAT"),
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="the audit log, oldest first",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  roadside audit list --since 1d")
    p.add_argument("--since", default="7d", help="from (RFC 3339 or relative; default 7d)")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    add_format_option(p)
    add_client_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = client_config(args)
    since = parse_time(args.since, "--since")
    with query_stub(config) as stub:
        resp = stub.ListAudit(query_pb2.ListAuditRequest(since_ns=since, limit=args.limit),
                              timeout=config.call_timeout_s)
    write_rows(COLUMNS, args.format, ({"at_ns": e.at_ns, "who": e.who, "method": e.method,
                                       "what": e.what} for e in resp.entries))
    return 0
