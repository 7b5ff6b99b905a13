"""`roadside shards list|place`: which detection shard holds each detector's passes.

Run where central's control etcd is reachable (its settings: --config with
`detection_shards`, ROADSIDE_*, flags, as `roadside pki`). A detector is given its shard at
its first upload; `place` chooses one beforehand (a shard never changes once chosen).
"""

from __future__ import annotations

import argparse
from typing import Any

from roadside.central.cli.pki import control_action, control_config, control_store
from roadside.central.store.shards import CONTROL
from roadside.common.output import Column, write_rows


def add_parser(inner: Any) -> None:
    a = control_action(inner, "list", "each detector's shard, and each shard's detectors "
                       "and state", "roadside shards list",
                       "roadside shards list --config /etc/roadside/central.yaml")
    a.add_argument("--format", choices=("table", "csv", "json"), default="table")
    a.set_defaults(func=_list)
    a = control_action(inner, "place", "put a detector that has not uploaded yet on a shard",
                       f"roadside shards place box-2 {CONTROL}",
                       "roadside shards place km12-north s2 --config /etc/roadside/central.yaml")
    a.add_argument("detector_id", metavar="DETECTOR")
    a.add_argument("shard", metavar="SHARD", help=f"a shard of detection_shards, or {CONTROL}")
    a.set_defaults(func=_place)


COLUMNS = [Column("detector_id", "DETECTOR"), Column("shard", "SHARD"),
           Column("shard_up", "SHARD UP")]


def _list(args: argparse.Namespace) -> int:
    with control_store(control_config(args)) as store:
        health = {CONTROL: store.healthy(), **store.shard_health()}
        rows = [{"detector_id": d, "shard": s, "shard_up": health.get(s)}
                for d, s in sorted(store.shards.mapping().items())]
    write_rows(COLUMNS, args.format, rows)
    return 0


def _place(args: argparse.Namespace) -> int:
    with control_store(control_config(args)) as store:
        store.shards.set_shard(args.detector_id, args.shard)
    print(f"{args.detector_id}: its passes will go to {args.shard}")
    return 0
