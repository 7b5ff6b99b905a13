"""`roadside agent replay`: capture files (or recordings) through the same pipeline as radios.

pcap/pcapng (802.11 radiotap 127, BLE PHDR 256, Nordic BLE 272) are merged by time and go
through hashing, the privacy policy, passes, a disk buffer and the uplink exactly as live
sightings do; recordings made by `roadside agent record` (already hashed) skip the hasher.
Exits 0 once central has acknowledged every pass (1 when central refused some as invalid,
or when no frame could be read at all, or when records of a file could not be read);
prints what was read, skipped, sent and refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from roadside.agent.commands.parts import ProgressLine, subcommand
from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.laptop import local_settings, with_laptop_tls
from roadside.agent.pipeline import Pipeline
from roadside.agent.privacy import generate_secret
from roadside.agent.recording import RecordedIds, RecordingSource, is_recording
from roadside.agent.runner import AgentRunner, Progress
from roadside.agent.sources import capfile
from roadside.agent.sources.base import Source
from roadside.agent.sources.replay import FAST, ReplaySource
from roadside.common.config_layers import load
from roadside.common.files import private_dir

log = logging.getLogger(__name__)

PROGRESS_S = 0.25
DRAIN_TIMEOUT_S = 300.0  # after the last frame, for central to acknowledge every pass
# skip reasons that belong to a file rather than to a frame's content
FILE_REASONS = capfile.DAMAGE


class ReplayError(AgentError):
    """The replay cannot start (missing file, mixed inputs)."""


@dataclass(slots=True)
class ReplaySummary:
    detector_id: str
    files: int
    frames_read: int
    skipped: dict[str, int]
    skipped_in: dict[str, dict[str, int]]  # file -> reason -> frames, for file-level reasons
    sightings: int
    dropped_by_policy: int
    passes: int
    uploaded: int
    rejected: int  # passes central refused as invalid (e.g. older than its retention)
    elapsed_s: float  # from the first frame read to the last pass acknowledged
    over_budget: int = 0  # randomized-address sightings refused a new pass (the budget)
    lost: int = 0  # passes dropped in RAM (could not be encoded or buffered)
    repeated: int = 0  # passes this state dir had buffered before (a restarted replay)
    central: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def lines(self) -> list[str]:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.skipped.items()))
        out = [
            f"replayed {self.files} file{'' if self.files == 1 else 's'} as detector "
            f"{self.detector_id} -> "
            f"{','.join(self.central)}",
            f"  frames read        {self.frames_read}",
            f"  frames skipped     {skipped}" + (f" ({reasons})" if reasons else ""),
        ]
        for path, per in sorted(self.skipped_in.items()):
            detail = ", ".join(f"{r} {n}" for r, n in sorted(per.items()))
            out.append(f"    in {path}: {detail}")
        out += [
            f"  sightings          {self.sightings}",
            f"  dropped by policy  {self.dropped_by_policy}",
            f"  over budget        {self.over_budget} (randomized addresses past "
            "randomized_passes_per_minute)",
            f"  passes             {self.passes}" + (f" ({self.lost} lost)" if self.lost else ""),
            f"  uploaded           {self.uploaded} (acknowledged by central)",
            *([f"  sent before        {self.repeated} (buffered by an earlier run on this "
               "state dir, not sent again)"] if self.repeated else []),
            f"  elapsed            {self.elapsed_s:.1f} s",
        ]
        if self.rejected:
            out.append(f"  rejected           {self.rejected} (refused by central, see the log;"
                       f" older than its retention? try --shift-to-now)")
        return out


class RecordingRunner(AgentRunner):
    """An AgentRunner whose pipeline takes the recorded device ids as they are."""

    def __init__(self, config: AgentConfig, sources: Sequence[Source]) -> None:
        super().__init__(config, sources, event_time=True, secret=b"\0" * 32)
        self.pipeline = Pipeline(config, RecordedIds(), self.buffer,
                                 on_written=self.uplink.wake)


def add_parser(sub: Any) -> None:
    p = subcommand(sub, "replay", __doc__, run,
                   "replay pcap/pcapng captures or recordings through the agent pipeline")
    p.epilog = ("example:\n  roadside agent replay --detector north-gate --secret-file site.secret "
                "--fast \\\n      --shift-to-now captures/north-gate.wifi.pcap")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="pcap/pcapng captures, or recordings from `roadside agent record`")
    p.add_argument("--detector", required=True, metavar="ID",
                   help="the detector id the passes are uploaded as")
    p.add_argument("--secret-file", type=Path, metavar="FILE",
                   help="site secret (created when missing; default: the config's "
                        "secret_file)")
    p.add_argument("--central", action="append", metavar="HOST:PORT",
                   help="collector endpoint (repeat for fail-over; default: the config's)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, metavar="N",
                      help="play N times real time (default: the original timing)")
    pace.add_argument("--fast", action="store_true", help="as fast as the pipeline allows")
    p.add_argument("--shift-to-now", action="store_true",
                   help="move the capture's times so that it ends now")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="agent settings YAML (privacy policy, passes, TLS); ROADSIDE_* apply too")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="plaintext, to a development central started with --insecure "
                        "(else TLS from --config or ROADSIDE_TLS_*)")
    p.add_argument("--state-dir", type=Path, metavar="DIR",
                   help="keep the disk buffer here (default: a temporary directory)")
    p.add_argument("--drain-timeout", type=float, default=DRAIN_TIMEOUT_S, metavar="S",
                   help=f"give up when central has not acknowledged everything S seconds "
                        f"after the last frame (default {DRAIN_TIMEOUT_S:g})")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", action="store_true",
                   help="no progress display (on a terminal a bar of the files read, redrawn "
                        "in place; otherwise a plain line every half minute)")


def run(args: argparse.Namespace) -> int:
    for path in args.files:
        if path.is_dir():
            raise ReplayError(f"FILE {path}: is a directory (give the capture files in it, "
                              f"e.g. {path}/*.pcap)")
        if not path.is_file():
            raise ReplayError(f"FILE {path}: no such file")
    if args.speed is not None and not args.speed > 0:
        raise ReplayError(f"--speed: must be above 0, got {args.speed:g}")
    if args.secret_file is not None and not args.secret_file.exists():
        generate_secret(args.secret_file)  # boxes replayed with it share it
        print(f"created site secret {args.secret_file}", file=sys.stderr)
    flags = {"detector_id": args.detector, "secret_file": args.secret_file,
             "central": tuple(args.central) if args.central else None,
             "insecure": args.insecure}
    config = with_laptop_tls(load(AgentConfig, args.config, os.environ, flags, section="agent",
                                  local=local_settings()))
    speed: float | Literal["fast"] = FAST if args.fast else (args.speed or 1.0)
    with (tempfile.TemporaryDirectory(prefix="roadside-replay-") as tmp,
          ProgressLine(enabled=not args.quiet) as line):
        config = replace(config, state_dir=args.state_dir or Path(tmp))
        summary = asyncio.run(replay(config, args.files, speed, args.shift_to_now,
                                     args.drain_timeout, line))
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        print("\n".join(summary.lines()))
    if not summary.frames_read:
        print("roadside: error: nothing replayed: no frame could be read from "
              f"{'the file' if summary.files == 1 else 'any file'} (see frames skipped)",
              file=sys.stderr)
        return 1
    damaged = sum(n for reason, n in summary.skipped.items() if reason in FILE_REASONS)
    if damaged:
        print(f"roadside: error: {damaged} record{'' if damaged == 1 else 's'} could not be "
              "read (see frames skipped); the rest were replayed", file=sys.stderr)
        return 1
    return 1 if summary.rejected else 0


async def replay(
    config: AgentConfig,
    files: Sequence[Path],
    speed: float | Literal["fast"],
    shift_to_now: bool,
    drain_timeout_s: float = DRAIN_TIMEOUT_S,
    line: ProgressLine | None = None,
) -> ReplaySummary:
    """Replay `files` as `config.detector_id` until central acknowledged every pass."""
    recordings = [is_recording(f) for f in files]
    if any(recordings) and not all(recordings):
        raise ReplayError("FILE: recordings and capture files cannot be replayed together")
    runner: AgentRunner
    source: ReplaySource | RecordingSource
    if all(recordings):
        source = RecordingSource(files, speed, shift_to_now)
        runner = RecordingRunner(config, [source])
    else:
        source = ReplaySource(files, speed, shift_to_now)
        runner = AgentRunner(config, [source], event_time=True)
    private_dir(config.state_dir)
    line = line or ProgressLine(enabled=False)
    started = time.monotonic()
    task = asyncio.create_task(runner.run(until_drained=True, drain_timeout_s=drain_timeout_s),
                               name=f"replay:{config.detector_id}")
    try:
        while not task.done():
            line.update(*_progress(source, runner.progress()))
            await asyncio.wait({task}, timeout=PROGRESS_S)
        task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    figures = runner.progress()
    rejected = runner.uplink.counts().rejected
    line.finish(*_progress(source, figures, f"{rejected} refused" if rejected else "done"))
    frames, skipped = _frames(source), _skipped(source)
    return ReplaySummary(
        detector_id=config.detector_id,
        files=len(files),
        frames_read=frames,
        skipped=skipped,
        skipped_in=await asyncio.to_thread(_skipped_by_file, source, files, skipped),
        sightings=figures.sightings,
        dropped_by_policy=figures.dropped_by_policy,
        passes=figures.passes,
        uploaded=figures.acknowledged,
        rejected=rejected,
        elapsed_s=round(time.monotonic() - started, 3),
        central=list(config.central),
        over_budget=runner.pipeline.counts().over_budget,
        lost=runner.pipeline.counts().lost,
        repeated=runner.buffer.repeated,
    )


def _progress(source: ReplaySource | RecordingSource, p: Progress, state: str = "",
              ) -> tuple[str, int, int, str]:
    """The bar follows the bytes of the files read; then come frames, passes and the
    backlog (passes central has yet to acknowledge)."""
    if isinstance(source, ReplaySource):
        st = source.stats()
        done, total, finished = st.bytes_read, st.bytes_total, st.finished
    else:
        done, total = source.bytes_read(), source.bytes_total
        finished = source.finished.is_set()
    if not state and finished and p.backlog:
        state = "waiting for central"
    return ("replay", done, total,
            f"{_frames(source)} frames  {p.passes} passes  backlog {p.backlog}"
            + (f"  {state}" if state else ""))


def _frames(source: ReplaySource | RecordingSource) -> int:
    if isinstance(source, ReplaySource):
        return source.stats().frames_read
    return sum(r.frames_read for r in source.readers)


def _skipped(source: ReplaySource | RecordingSource) -> dict[str, int]:
    if isinstance(source, ReplaySource):
        return dict(source.stats().skipped)
    return source.skipped()


def _skipped_by_file(source: ReplaySource | RecordingSource, files: Sequence[Path],
                     skipped: dict[str, int]) -> dict[str, dict[str, int]]:
    """Name the files that had unreadable parts (read again only when there were some)."""
    if isinstance(source, RecordingSource):
        return {str(r.path): dict(r.skipped) for r in source.readers if r.skipped}
    if not any(reason in skipped for reason in FILE_REASONS):
        return {}
    out = {}
    for path in files:
        reader = capfile.CaptureReader(path)
        for _ in reader.frames():
            pass
        if reader.skipped:
            out[str(path)] = dict(reader.skipped)
    return out
