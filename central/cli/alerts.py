"""`roadside alerts list|threshold`: the alert states, and fixed thresholds per link or route.

    roadside alerts list                                  Warn and Bad now, and cleared ones
    roadside alerts threshold link/a/b --warn-s 300 --bad-s 600
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from roadside.central.cli.pki import control_action, control_config, control_etcd
from roadside.central.store import keys
from roadside.central.traveltime.alerts import states
from roadside.common import output
from roadside.common.errors import RoadsideError
from roadside.common.output import Column, write_rows
from roadside.common.timeparse import format_local

COLUMNS = (
    Column("level", "LEVEL", lambda v: str(v).upper()),
    Column("subject", "SUBJECT"),
    Column("reason", "REASON"),
    Column("since_ns", "SINCE (local)", lambda v: format_local(int(v))),
)


def add_parser(inner: Any) -> None:
    a = control_action(inner, "list", "alert states, the worst first",
                       "roadside alerts list --format json")
    output.add_format_option(a)
    a.add_argument("--all", action="store_true", help="also the cleared ones (level ok)")
    a.set_defaults(func=_list)
    a = control_action(inner, "threshold", "fixed Warn and Bad travel times of a link or route "
                       "(besides the ratio to normal)",
                       "roadside alerts threshold link/north-gate/mill-bridge --warn-s 300 "
                       "--bad-s 600")
    a.add_argument("target", metavar="TARGET", help="link/SRC/DEST or route/NAME")
    a.add_argument("--warn-s", type=float, help="Warn at this travel time in seconds")
    a.add_argument("--bad-s", type=float, help="Bad at this travel time in seconds")
    a.add_argument("--clear", action="store_true", help="remove the target's thresholds")
    a.set_defaults(func=_threshold)


def _list(args: argparse.Namespace) -> int:
    config = control_config(args)
    with control_etcd(config) as client:
        found = states(client, config.namespace)
    write_rows(COLUMNS, args.format, [a for a in found if args.all or a.get("level") != "ok"])
    return 0


def _threshold(args: argparse.Namespace) -> int:
    parts = args.target.split("/")
    if not ((parts[0] == "link" and len(parts) == 3) or (parts[0] == "route" and len(parts) == 2)):
        raise RoadsideError(f"TARGET: {args.target!r} is not link/SRC/DEST or route/NAME")
    if not args.clear and args.warn_s is None and args.bad_s is None:
        raise RoadsideError("threshold: give --warn-s and/or --bad-s, or --clear")
    for name in ("warn_s", "bad_s"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise RoadsideError(f"--{name.replace('_', '-')}: must be positive, got {value}")
    config = control_config(args)
    key = keys.alert_threshold_key(config.namespace, args.target)
    with control_etcd(config) as client:
        if args.clear:
            client.delete(key)
            print(f"{args.target}: thresholds removed")
            return 0
        client.put(key, json.dumps({k: v for k in ("warn_s", "bad_s")
                                    if (v := getattr(args, k)) is not None}))
    print(f"{args.target}: Warn {args.warn_s or '-'} s, Bad {args.bad_s or '-'} s")
    return 0
