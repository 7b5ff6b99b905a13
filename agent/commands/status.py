"""`roadside agent status`: the running agent's health, from state_dir/status.json."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from roadside.agent.commands.settings import add_config_flags, config_from_args
from roadside.agent.status import AgentStatus, read_status
from roadside.common import output
from roadside.common.humanize import format_bytes, format_duration, rate_text

STALE_AFTER_S = 30.0  # status.json older than this: the agent is probably not running


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "status", help="show the agent's buffer, uplink, sources, clock and disk",
        description=(
            "Buffer depth and oldest unsent age, last successful upload, sightings per "
            "source per minute and each source's state, clock synchronisation and disk "
            "free, as written by the running agent to state_dir/status.json every few "
            "seconds."
        ),
        epilog="example:\n  roadside agent status --config box-1.yaml --json\non a detector box:\n"
               "  roadside agent status",
        formatter_class=output.HelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    add_config_flags(parser, settings=False)
    parser.add_argument("--state-dir", dest="cfg_state_dir", metavar="DIR",
                        help="the agent's state directory (default: from the config)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    status = read_status(config.state_dir)
    age_s = max(0.0, time.time() - status.reported_ns / 1e9)
    if args.json:
        data = status.to_json()
        data["age_s"] = round(age_s, 1)
        print(json.dumps(data, indent=2))
    else:
        print(render(status, age_s))
    return 0


def _ago(t_ns: int) -> str:
    if t_ns <= 0:
        return "never"
    when = datetime.fromtimestamp(t_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} ({format_duration(time.time() - t_ns / 1e9)} ago)"


def render(s: AgentStatus, age_s: float) -> str:
    stale = "  (stale: is the agent running?)" if age_s > STALE_AFTER_S else ""
    rows = [
        ("detector", s.detector_id),
        ("reported", f"{format_duration(age_s)} ago{stale}"),
        ("buffer", f"{s.buffer_depth} passes, {format_bytes(s.buffer_bytes)}"),
        ("oldest unsent", format_duration(s.oldest_unsent_age_s) if s.buffer_depth else "-"),
        ("last upload", _ago(s.last_upload_ns)),
        ("central", f"{s.endpoint}, {s.upload_failures} failed uploads"),
        ("passes", f"{s.passes_total} buffered in total, {s.dropped_passes} dropped (full)"),
        ("quarantined", f"{s.quarantined_databases} corrupt buffer databases, "
                        f"{s.salvaged_rows} passes salvaged from them"),
        ("lost", f"{s.lost_passes} passes dropped in RAM, {s.set_aside_rows} undecodable rows "
                 "set aside"),
        ("over budget", f"{s.over_budget_sightings} randomized-address sightings "
                        "(randomized_passes_per_minute)"),
        ("erased epoch", f"{s.erased_epoch_sightings} sightings timed in an epoch whose key "
                         "this box has erased (clock jumped back?)"),
        ("clock", s.clock_sync.value),
        ("disk free", format_bytes(s.disk_free_bytes)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines.append("")
    lines.append(f"{'source':<10} {'state':<11} {'per min':>9} {'restarts':>8}  last error")
    for src in s.sources:
        lines.append(
            f"{src.name:<10} {src.state:<11} "
            f"{rate_text(src.state, src.sightings_per_minute, 1):>9} "
            f"{src.restarts:>8}  {src.last_error or '-'}"
        )
    if not s.sources:
        lines.append("(no sources)")
    if s.tasks:
        lines.append("")
        lines.append(f"{'task':<10} {'state':<11} {'restarts':>8}  last error")
        lines += [f"{t.name:<10} {t.state:<11} {t.restarts:>8}  {t.last_error or '-'}"
                  for t in s.tasks]
    return "\n".join(lines)
