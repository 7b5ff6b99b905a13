"""End-to-end replay rate: frames from capture files to passes acknowledged in etcd, per second.

    python bench/bench_replay.py [--rounds 2] [--captures DIR]

Starts its own etcd (EtcdProcess in a temp dir) and central in this process, then alternates:
  1. baseline: central ingest as bench/bench_ingest.py measures it, UploadBatch detections/s
     from one client process (batches of 1000), the same count an agent uploads;
  2. replay: one `roadside agent replay --fast` process over the two position captures
     (28,583 probe requests), a new detector id each round; frames/s and passes/s from the
     first frame read to the last pass acknowledged (the replay's own clock), and the wall
     time of the whole process (start-up included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_ingest  # noqa: E402 - the central ingest figure, measured the same way

from roadside.agent.privacy import generate_secret  # noqa: E402
from roadside.central.api.server import start_central  # noqa: E402
from roadside.central.config import CentralConfig  # noqa: E402
from roadside.central.store.etcd_process import EtcdProcess  # noqa: E402

FILES = ("sc6-61_2024-02-08_position_1.pcap", "sc6-61_2024-02-08_position_2.pcap")
REPLAY_TIMEOUT_S = 600.0
CENTURY_DAYS = 36_500.0  # the captures are from 2024: central keeps them


def replay_round(addr: str, secret: Path, files: list[Path], detector: str) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "--log-level", "warning", "agent", "replay",
         "--detector", detector, "--secret-file", str(secret), "--central", addr, "--fast",
         "--insecure",  # the bench's central is plaintext: TLS costs are bench_ingest's
         "--json", "--quiet", *map(str, files)],
        capture_output=True, text=True, timeout=REPLAY_TIMEOUT_S, check=False, cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"replay failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    s = json.loads(done.stdout)
    return {"frames": s["frames_read"], "passes": s["passes"], "elapsed": s["elapsed_s"],
            "wall": wall, "uploaded": s["uploaded"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--captures", type=Path, default=ROOT / "tests" / "data" / "captures")
    args = parser.parse_args()
    files = [args.captures / "wifi" / name for name in FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"captures not found: {', '.join(missing)} (--captures)")
        return 2
    ingest, frames_s, passes_s, walls = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp, \
            EtcdProcess(Path(tmp) / "etcd") as etcd:
        secret = Path(tmp) / "site.secret"
        generate_secret(secret)
        central = start_central(CentralConfig(
            host="127.0.0.1", collector_port=0, query_port=0, health_port=0,
            etcd_endpoints=(etcd.endpoint,), namespace="bench", data_dir=Path(tmp) / "central",
            retention_days=CENTURY_DAYS, workers=8, insecure=True, http=False, metrics=False))
        print(f"etcd on {etcd.endpoint}, central collector {central.collector_addr}; "
              f"{args.rounds} rounds of ingest baseline then replay", flush=True)
        try:
            for r in range(args.rounds):
                result = replay_round(central.collector_addr, secret, files, f"bench-replay-{r}")
                count = max(1000, int(result["passes"]))
                rate, _client_cpu = bench_ingest.run_central(
                    central.collector_addr, 1, count, 1000, 100 + r,
                    bench_ingest.CpuMeter(etcd.pid or 0))
                ingest.append(rate)
                frames_s.append(result["frames"] / result["elapsed"])
                passes_s.append(result["uploaded"] / result["elapsed"])
                walls.append(result["wall"])
                print(f"  round {r + 1}: central UploadBatch {ingest[-1]:9,.0f} detections/s   "
                      f"replay {frames_s[-1]:8,.0f} frames/s ({result['frames']:,.0f} frames -> "
                      f"{result['uploaded']:,.0f} passes acknowledged in "
                      f"{result['elapsed']:.2f} s; process {result['wall']:.2f} s)", flush=True)
        finally:
            central.stop(5)
    base, rate = statistics.median(ingest), statistics.median(frames_s)
    print(f"median central UploadBatch (1 client): {base:10,.0f} detections/s "
          "(baseline, same central, same run)")
    print(f"median replay --fast, file to etcd:    {rate:10,.0f} frames/s")
    print(f"median replay --fast, passes acked:    {statistics.median(passes_s):10,.0f} passes/s")
    print(f"median replay process wall time:       {statistics.median(walls):10.2f} s "
          "(start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
