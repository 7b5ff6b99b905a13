"""`roadside apikey issue|list|revoke`: keys for the HTTP feeds, each with a role.

    roadside apikey issue city-desk --role viewer     prints the key once (only its hash is kept)
    roadside apikey list
    roadside apikey revoke city-desk                  refused by every central within seconds
"""

from __future__ import annotations

import argparse
from typing import Any

from roadside.central.cli.pki import control_action, control_config, control_etcd
from roadside.central.http.apikeys import ApiKeys
from roadside.common import output
from roadside.common.identity import ROLES
from roadside.common.output import Column, write_rows
from roadside.common.timeparse import format_utc

COLUMNS = (
    Column("name", "NAME"),
    Column("role", "ROLE"),
    Column("issued_ns", "ISSUED (UTC)", lambda v: format_utc(int(v))),
    Column("revoked_ns", "REVOKED (UTC)", lambda v: format_utc(int(v)) if v else "-"),
)


def add_parser(inner: Any) -> None:
    a = control_action(inner, "issue", "issue an API key for the HTTP feeds (printed once)",
                       "roadside apikey issue city-desk --role viewer")
    a.add_argument("name", metavar="NAME", help="who uses it: [a-z0-9][a-z0-9_-]{0,62}")
    a.add_argument("--role", choices=ROLES, default="viewer", help="its role (default viewer)")
    a.set_defaults(func=_issue)
    a = control_action(inner, "list", "the API keys issued, with their state",
                       "roadside apikey list --format json")
    output.add_format_option(a)
    a.set_defaults(func=_list)
    a = control_action(inner, "revoke", "revoke the live keys of NAME",
                       "roadside apikey revoke city-desk")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(func=_revoke)


def _issue(args: argparse.Namespace) -> int:
    config = control_config(args)
    with control_etcd(config) as client:
        print(ApiKeys(client, config.namespace).issue(args.name, args.role))
    return 0


def _list(args: argparse.Namespace) -> int:
    config = control_config(args)
    with control_etcd(config) as client:
        found = ApiKeys(client, config.namespace).all()
    write_rows(COLUMNS, args.format, ({"name": k.name, "role": k.role,
                                       "issued_ns": k.issued_ns, "revoked_ns": k.revoked_ns}
                                      for _digest, k in found))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    config = control_config(args)
    with control_etcd(config) as client:
        done = ApiKeys(client, config.namespace).revoke(args.name)
    print(f"revoked {done} key{'' if done == 1 else 's'} of {args.name}")
    return 0
