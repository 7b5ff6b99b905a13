"""`roadside agent run`: the detector agent, until SIGTERM; then it flushes and exits 0."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

import roadside.agent.sources
from roadside.agent.commands.settings import add_config_flags, config_from_args
from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.laptop import with_laptop_tls
from roadside.agent.runner import AgentRunner
from roadside.agent.sources.base import Source
from roadside.common import output

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "run", help="run the agent until SIGTERM",
        description=(
            "Hear the enabled radios, hash every MAC with the site secret, coalesce "
            "sightings into passes, keep them in the disk buffer (state_dir/buffer.db) and "
            "upload them to central until acknowledged. status.json in state_dir feeds "
            "`roadside agent status`. SIGTERM or Ctrl-C: open passes are closed and "
            "buffered, a last upload is tried, exit 0."
        ),
        epilog="example (beside a laptop central, a capture as its radio; until Ctrl-C):\n"
               "  roadside agent run --config box-1.yaml --ble-enabled no "
               "--replay captures/north-gate.wifi.pcap\n"
               "on a detector box:\n  roadside agent run --config /etc/roadside/agent.yaml",
        formatter_class=output.HelpFormatter,
    )
    add_replay_options(parser)
    add_config_flags(parser)
    parser.set_defaults(func=run)


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """--replay CAPTURE, --replay-speed, --replay-now: captures as a source (run, record)."""
    parser.add_argument(
        "--replay", action="append", type=Path, metavar="CAPTURE",
        help="also replay this pcap/pcapng capture as a source (repeatable); passes then "
             "close by the capture's time",
    )
    parser.add_argument(
        "--replay-speed", default="fast", metavar="X",
        help="replay speed: a factor of real time, or 'fast' (default: fast)",
    )
    parser.add_argument(
        "--replay-now", action="store_true",
        help="shift the replayed captures' times so that they end now (old captures "
             "would otherwise be older than central's retention)",
    )


def build_sources(config: AgentConfig, args: argparse.Namespace) -> list[Source]:
    """The radios the config enables, plus any --replay."""
    sources: list[Source] = []
    sources.extend(roadside.agent.sources.build_sources(config))
    if args.replay:
        from roadside.agent.sources.replay import FAST, ReplaySource

        speed: float | str = FAST if args.replay_speed == FAST else _speed(args.replay_speed)
        sources.append(
            ReplaySource(args.replay, speed=speed, shift_to_now=args.replay_now)  # type: ignore[arg-type]
        )
    if not sources:
        raise AgentError("no source enabled: enable ble, wifi or serial in the config, "
                         "or give --replay CAPTURE")
    return sources


def _speed(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise AgentError(f"--replay-speed: expected a number or 'fast', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    config = with_laptop_tls(config_from_args(args))
    sources = build_sources(config, args)
    runner = AgentRunner(config, sources, event_time=bool(args.replay))
    asyncio.run(_main(runner))
    return 0


async def _main(runner: AgentRunner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
