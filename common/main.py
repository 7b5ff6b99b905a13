"""The `roadside` command: one entry point, command groups from the installed packages.

Each sub-command lives in its own module with `add_parser(subparsers)`, which adds its
parser and sets `func` (args -> exit code). A group whose extra is not installed (e.g.
`central` on an agent box) shows a one-line hint instead.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roadside.common import __version__
from roadside.common.errors import RoadsideError


@dataclass(frozen=True)
class Group:
    extra: str  # the pip extra that provides the modules
    help: str
    description: str
    modules: tuple[str, ...]  # sub-command modules, in the order `--help` lists them


GROUPS: dict[str, Group] = {
    "agent": Group(
        "agent", "run, set up and check a detector agent",
        "The detector agent: hears radios, hashes MACs, uploads passes to central.",
        tuple(f"roadside.agent.commands.{name}"
              for name in ("init", "run", "status", "doctor", "replay", "record")),
    ),
    "central": Group(
        "central", "run the central servers and travel-time workers",
        "Central: collector, query and health servers on etcd; travel-time workers.",
        ("roadside.central.cli.serve", "roadside.central.cli.worker", "roadside.central.cli.http"),
    ),
    "query": Group(
        "central", "read events, detectors, status and travel times",
        "Operators' queries against central's query server.",
        ("roadside.central.cli.query", "roadside.central.cli.traveltime"),
    ),
    "links": Group(
        "central", "set and list detector links and routes",
        "Links (src -> dest with max_seconds) and routes between detectors.",
        ("roadside.central.cli.links", "roadside.central.cli.routes"),
    ),
    "pki": Group(
        "central", "the site PKI: CA, certificates, enrollment tokens, revocation",
        "The site PKI, run where the CA lives: roadside pki init, then issue and token.",
        ("roadside.central.cli.pki",),
    ),
    "apikey": Group(
        "central", "API keys of the HTTP feeds (admin): issue, list, revoke",
        "Keys for the HTTP feeds (JSON, GeoJSON, DATEX II), each with a role.",
        ("roadside.central.cli.apikey",),
    ),
    "alerts": Group(
        "central", "travel-time and detector alerts: list, thresholds",
        "Alerts the workers raise: Warn and Bad per link, route and detector.",
        ("roadside.central.cli.alerts",),
    ),
    "archive": Group(
        "central", "closed days of passes to Parquet: export, list, verify",
        "The archive: closed UTC days of passes as Parquet files, beyond etcd's retention.",
        ("roadside.central.cli.archive",),
    ),
    "report": Group(
        "central", "reliability, profiles, coverage and an OD matrix over the history",
        "Reports over the archive and etcd, on DuckDB: what a traffic analyst asks.",
        ("roadside.central.cli.report",),
    ),
    "shards": Group(
        "central", "which detection shard holds each detector's passes: list, place",
        "Detection shards: separate etcd clusters for passes, one per detector.",
        ("roadside.central.cli.shards",),
    ),
    "audit": Group(
        "central", "who read per-device data and who changed what (admin)",
        "The audit log: every analyst read of per-device data and every admin change.",
        ("roadside.central.cli.audit",),
    ),
    "sim": Group(
        "agent", "simulate road traffic through agents and central",
        "Simulator mode: synthetic traffic through real agent pipelines and central.",
        ("roadside.sim.cmd_traffic", "roadside.sim.cmd_load"),
    ),
}

def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree; with `only`, other groups' modules are not imported (a
    running agent then does not carry central's libraries: ~25 MB less RSS)."""
    parser = argparse.ArgumentParser(
        prog="roadside",
        description="Travel times from the Bluetooth and WiFi radios people carry.",
        epilog="Run `roadside COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"roadside {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="logging threshold (default: info)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, group in GROUPS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=group.help, description=group.description)
            continue
        try:
            modules = [importlib.import_module(m) for m in group.modules]
        except ImportError as exc:
            stub = sub.add_parser(name, help=f"{group.help} (not installed)")
            stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            stub.set_defaults(func=_missing(name, group.extra, exc))
            continue
        group_parser = sub.add_parser(name, help=group.help, description=group.description)
        inner = group_parser.add_subparsers(
            dest=f"{name}_command", metavar="SUBCOMMAND", required=True
        )
        for module in modules:
            module.add_parser(inner)
    return parser


def _missing(name: str, extra: str, exc: ImportError) -> Callable[[argparse.Namespace], int]:
    def run(_args: argparse.Namespace) -> int:
        where = (" (an agent-only install, e.g. a detector box: run it where central's "
                 "tools are installed)" if extra == "central" else "")
        raise RoadsideError(
            f"`roadside {name}` commands come with the {extra} extra, not installed here"
            f"{where}: pip install 'roadside[{extra}]' (missing: {exc.name or exc})"
        )

    return run


# Young objects allocated before the cycle collector runs (Python's default: 700). The
# servers and the agent make many short-lived tuples and dicts per event and per frame and
# almost no cycles: at 700 the collector took 25-35 % of a StreamEventPages read.
GC_YOUNG_OBJECTS = 10_000


def tune_gc() -> None:
    """Collect cycles less often, and never look again at what startup made (modules,
    parsers, settings: gc.freeze)."""
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _negative_times(sys.argv[1:] if argv is None else list(argv))
    if "debug" not in args_list:  # gRPC's C-core log lines; roadside says what failed itself
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    parser = build_parser(next((a for a in args_list if a in GROUPS), None))
    args = parser.parse_args(args_list)
    tune_gc()
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except RoadsideError as exc:
        print(f"roadside: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `roadside ... | head`: the reader has all it wanted
        _quiet_stdout()
        return 0
    except OSError as exc:  # a path the command could not create, read or write
        logging.getLogger(__name__).debug("%s failed", args.command, exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"roadside: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


NEGATIVE_TIME = re.compile(r"-\d+(\.\d+)?[smhdw]")


def _negative_times(args: list[str]) -> list[str]:
    """`--since -5m` as `--since=-5m`: argparse would take -5m for an option."""
    out: list[str] = []
    for arg in args:
        if out and NEGATIVE_TIME.fullmatch(arg) and out[-1].startswith("--") \
                and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
