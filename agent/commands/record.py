"""`roadside agent record --out FILE`: record what the sources hear, already hashed.

Every sighting goes through the site secret's keyed hash and the address-kind policy (drop
means not recorded) before it is written, so the recording never holds a raw MAC. It is a
JSON-lines file that `roadside agent replay` takes back (past the hasher: the ids stay as
recorded). Stops on Ctrl-C/SIGTERM, after --duration, or when --replay captures end.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadside.agent.commands import run as cmd_run
from roadside.agent.commands.parts import subcommand
from roadside.agent.commands.settings import add_config_flags, config_from_args
from roadside.agent.config import AgentConfig
from roadside.agent.model import Sighting
from roadside.agent.privacy import Action, DeviceHasher, PrivacyPolicy, load_secret
from roadside.agent.recording import HashedSighting, RecordingWriter
from roadside.agent.sources.base import Source
from roadside.agent.sources.supervisor import Supervisor
from roadside.common.timeparse import parse_duration

FLUSH_S = 1.0  # recorded lines reach the file at least this often


@dataclass(frozen=True, slots=True)
class RecordSummary:
    out: Path
    sightings: int  # heard by the sources
    dropped_by_policy: int
    recorded: int


class Recorder:
    """The sources' `emit`: hash, apply the policy, keep the line until the next flush."""

    def __init__(self, hasher: DeviceHasher, policy: PrivacyPolicy,
                 writer: RecordingWriter) -> None:
        self._hasher = hasher
        self._policy = policy
        self._writer = writer
        self._pending: list[HashedSighting] = []
        self.sightings = 0
        self.dropped = 0

    def emit(self, s: Sighting) -> None:
        self.sightings += 1
        if self._policy.action(s.address_kind) is Action.DROP:
            self.dropped += 1
            return
        device_id = self._hasher.device_id(s.mac, s.t_ns)  # the only use of the MAC
        self._pending.append(HashedSighting(s.t_ns, device_id, s.rssi, s.radio,
                                            s.address_kind, s.source, s.channel))

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await asyncio.to_thread(self._writer.write, batch)


def add_parser(sub: Any) -> None:
    p = subcommand(sub, "record", __doc__, run,
                   "record what the sources hear, hashed, for `agent replay`")
    p.epilog = ("examples (a capture as the radio, then the recording replayed):\n"
                "  roadside agent record --config box-1.yaml --ble-enabled no \\\n"
                "      --replay captures/north-gate.wifi.pcap --out box-1.jsonl --duration 5s\n"
                "  roadside agent replay --detector box-1 --fast box-1.jsonl\n"
                "on a detector box:\n  roadside agent record --out box1.jsonl --duration 1h")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="the recording to write (JSON lines; never overwritten)")
    p.add_argument("--duration", metavar="D", help="stop after this long, e.g. 10m, 2h")
    cmd_run.add_replay_options(p)
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    duration_s = parse_duration(args.duration) if args.duration else None
    config = config_from_args(args)
    hasher = DeviceHasher.from_config(config, load_secret(config.secret_file))
    sources = cmd_run.build_sources(config, args)
    summary = asyncio.run(record(config, hasher, sources, args.out, duration_s))
    print(f"recorded {summary.recorded} hashed sightings to {summary.out} "
          f"({summary.sightings} heard, {summary.dropped_by_policy} dropped by the policy)")
    return 0


async def record(config: AgentConfig, hasher: DeviceHasher, sources: list[Source], out: Path,
                 duration_s: float | None = None) -> RecordSummary:
    header = {"detector_id": config.detector_id, "epoch_hours": config.epoch_hours,
              "created_ns": time.time_ns()}
    writer = RecordingWriter(out, header)
    recorder = Recorder(hasher, PrivacyPolicy.from_config(config), writer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    timer = loop.call_later(duration_s, stop.set) if duration_s else None
    supervisor = Supervisor(sources, recorder.emit, config.silence_restart_s)
    task = asyncio.create_task(supervisor.run(stop), name="record:sources")
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=FLUSH_S)
            await recorder.flush()
        task.result()
    finally:
        stop.set()
        if timer is not None:
            timer.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await recorder.flush()
        writer.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return RecordSummary(out, recorder.sightings, recorder.dropped, writer.records)
