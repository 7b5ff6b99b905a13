"""WiFi pipeline throughput on the largest real capture, beside baselines of the same run.

Stages, each over the same frames:
  struct loop   bare struct walk of the pcap records, radiotap length, addr2 (the floor)
  fast parser   capfile + dot11 -> Sighting (what replay and the wifi source do)
  parse+hash    the same plus the keyed hash (HMAC-SHA256 with the epoch key)
  pipeline      parse -> keyed hash -> policy -> passes -> DiskBuffer (SQLite, real file)
  scapy         scapy's full dissection (on a sample: it is three orders slower)
Each rate is the median of --rounds rounds (a round runs every stage once); each ratio is
the median of the rounds' own ratios (stages of one round run back to back, so the
machine's drift between rounds does not enter it). Targets: pipeline >= 100x scapy and
>= 0.6 of parse+hash.  Run: .venv/bin/python bench/bench_wifi.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

# scapy is imported before tune_gc: every stage then runs on the same heap, as an agent's
# does once started
from scapy.layers.dot11 import Dot11, RadioTap

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roadside.agent.buffer import DiskBuffer  # noqa: E402
from roadside.agent.config import AgentConfig  # noqa: E402
from roadside.agent.pipeline import Pipeline  # noqa: E402
from roadside.agent.privacy import DeviceHasher  # noqa: E402
from roadside.agent.sources.capfile import CaptureReader, Frame  # noqa: E402
from roadside.agent.sources.replay import sighting_from_frame  # noqa: E402
from roadside.common.main import tune_gc  # noqa: E402

CAPTURES = REPO / "tests" / "data" / "captures"
LARGEST = CAPTURES / "wifi" / "sc6-61_2024-02-08_position_2.pcap"
REPS = 5  # the capture is replayed this many times, each shifted 2 h later
SHIFT_NS = 2 * 3600 * 10**9
SCAPY_SAMPLE = 1500
TARGET_SCAPY = 100.0  # pipeline / scapy
TARGET_PARSE_HASH = 0.6  # pipeline / parse+hash


def struct_loop(path: Path) -> int:
    """The floor: walk the pcap records and slice addr2 with bare struct calls."""
    data = path.read_bytes()
    rec = struct.Struct("<IIII").unpack_from
    u16 = struct.Struct("<H").unpack_from
    n = 0
    for _ in range(REPS):
        pos = 24
        while pos + 16 <= len(data):
            incl = rec(data, pos)[2]
            frame = data[pos + 16 : pos + 16 + incl]
            pos += 16 + incl
            hlen = u16(frame, 2)[0]
            if frame[hlen] == 0x40 and len(frame[hlen + 10 : hlen + 16]) == 6:
                n += 1
    return n


def fast_parser(path: Path) -> int:
    n = 0
    for _ in range(REPS):
        for frame in CaptureReader(path).frames():
            if not isinstance(sighting_from_frame(frame, "wifi"), str):
                n += 1
    return n


async def pipeline(path: Path, state: Path) -> tuple[int, int, float]:
    """(sightings, passes written, seconds spent writing the buffer)."""
    config = AgentConfig(detector_id="bench", state_dir=state)
    buffer = DiskBuffer(state / "buffer.db", config.buffer_max_bytes).open()
    writing = 0.0
    try:
        pipe = Pipeline(config, DeviceHasher(b"bench-site-secret-" * 2), buffer)
        emit = pipe.on_sighting  # as a source holds it
        n = 0
        for rep in range(REPS):
            shift = rep * SHIFT_NS
            for frame in CaptureReader(path).frames():
                s = sighting_from_frame(frame, "wifi", shift)
                if not isinstance(s, str):
                    emit(s)
                    n += 1
                    if n % 8192 == 0:
                        pipe.tick_event_time()
                        t0 = time.perf_counter()
                        await pipe.flush()
                        writing += time.perf_counter() - t0
        pipe.close_all()
        t0 = time.perf_counter()
        await pipe.flush()
        writing += time.perf_counter() - t0
        return n, pipe.counts().passes, writing
    finally:
        buffer.close()


def parse_and_hash(path: Path) -> int:
    hasher = DeviceHasher(b"bench-site-secret-" * 2)
    n = 0
    for _ in range(REPS):
        for frame in CaptureReader(path).frames():
            s = sighting_from_frame(frame, "wifi")
            if not isinstance(s, str):
                hasher.device_id(s.mac, s.t_ns)
                n += 1
    return n


def scapy_sample(frames: list[Frame]) -> int:
    n = 0
    for f in frames[:SCAPY_SAMPLE]:
        pkt = RadioTap(f.data)
        if pkt.haslayer(Dot11) and pkt[Dot11].addr2 and pkt.dBm_AntSignal is not None:
            n += 1
    return n


def timed(fn: object, *args: object) -> tuple[int, float]:
    """(frames, seconds) of one stage."""
    t0 = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return (result[0] if isinstance(result, tuple) else result), time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tune_gc()  # as every roadside process runs: baselines and roadside alike
    if not LARGEST.exists():
        print(f"capture not found: {LARGEST} (the repository ships it)")
        return 1
    frames = list(CaptureReader(LARGEST).frames())  # for the scapy sample
    total = len(frames) * REPS
    print(f"WiFi pipeline on {LARGEST.name}: {len(frames):,} frames x {REPS} = {total:,}")
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-wifi-") as tmp:
        for n in range(args.rounds):
            stages = {
                "struct loop": (struct_loop, LARGEST),
                "fast parser": (fast_parser, LARGEST),
                "parse+hash": (parse_and_hash, LARGEST),
                "pipeline": (pipeline, LARGEST, Path(tmp) / str(n)),
                "scapy": (scapy_sample, frames),
            }
            for label, (fn, *fn_args) in stages.items():
                count, secs = timed(fn, *fn_args)
                rates.setdefault(label, []).append(count / secs)
            print(f"  round {n + 1}/{args.rounds}", file=sys.stderr, flush=True)
    rate = {label: statistics.median(r) for label, r in rates.items()}
    for label, r in rate.items():
        print(f"  {label:<12} {r:>11,.0f} frames/s  (median of {args.rounds} rounds)")
    per_round = {base: [p / b for p, b in zip(rates["pipeline"], rates[base], strict=True)]
                 for base in ("scapy", "parse+hash")}
    print("  pipeline / parse+hash, each round: "
          + ", ".join(f"{r:.2f}" for r in per_round["parse+hash"]))
    vs_scapy = statistics.median(per_round["scapy"])
    vs_hash = statistics.median(per_round["parse+hash"])
    print(f"pipeline: {vs_scapy:,.0f}x scapy (target {TARGET_SCAPY:g}x: "
          f"{'meets' if vs_scapy >= TARGET_SCAPY else 'MISSES'}), {vs_hash:.2f} of parse+hash "
          f"(target {TARGET_PARSE_HASH}: {'meets' if vs_hash >= TARGET_PARSE_HASH else 'MISSES'})"
          f", {rate['pipeline'] / rate['struct loop']:.0%} of the bare struct loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
