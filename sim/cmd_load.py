"""`roadside sim load`: many simulated detectors uploading to central through the real gRPC
path, faster than real time, to see what a city-sized network asks of central and etcd.

Each detector hears --passes-per-day passes a day (Poisson) and sends, as a box's uplink
does, one batch per 100-s bucket of simulated time (at its own phase), over its own mTLS
identity (--pki-dir DIR holds DIR/detector-ID.pem and .key; `roadside pki issue detector
ID` writes them) or plaintext (--insecure, a development central). The simulated period
--duration ends now and runs --speed times faster than real time. Printed: calls and
passes per second, upload latency percentiles, refusals by status, and with
--central-pid central's CPU, with --etcd-endpoint etcd's database growth per simulated
day, with --metrics the travel-time workers' lag (their Prometheus endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from ulid import ULID

from roadside.agent.commands.parts import ProgressLine, subcommand
from roadside.common import laptop
from roadside.common.config_layers import ConfigError
from roadside.common.timeparse import parse_duration
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2
from roadside.sim.laptop_pki import detector_pki

S = 1_000_000_000
BUCKET_S = 100  # central's buckets: one batch per detector and bucket
IN_FLIGHT = 256  # uploads in flight at once
CALL_TIMEOUT_S = 30.0


def add_parser(sub: Any) -> None:
    p = subcommand(sub, "load", __doc__, run,
                   "city-scale load: many simulated detectors uploading to central")
    p.epilog = ("example:\n  roadside sim load --detectors 20 --duration 1h --speed 600\n"
                "against a city's central:\n  roadside sim load --central 10.0.0.5:9000 "
                "--pki-dir load-pki --detectors 500")
    p.add_argument("--central", metavar="HOST:PORT",
                   help="central's collector (default: the laptop central serving here)")
    p.add_argument("--detectors", type=int, default=500, help="simulated detectors (500)")
    p.add_argument("--passes-per-day", type=int, default=40_000,
                   help="passes each detector hears a day (40000)")
    p.add_argument("--duration", default="1h", help="simulated period ending now (1h)")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (60)")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--pki-dir", type=Path, metavar="DIR",
                       help="ca.pem and detector-ID.pem/.key for every simulated detector "
                            "(default: issued from the laptop central's site CA)")
    trust.add_argument("--insecure", action="store_true",
                       help="plaintext, to a development central started with --insecure")
    p.add_argument("--prefix", default="load", help="detector ids PREFIX-0000, ... (load)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--central-pid", type=int, metavar="PID", help="report this process's CPU")
    p.add_argument("--etcd-endpoint", metavar="HOST:PORT",
                   help="report etcd's database growth (plaintext etcd)")
    p.add_argument("--metrics", metavar="URL", help="a worker's Prometheus endpoint: its lag")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    duration_s = parse_duration(args.duration)
    if args.detectors < 1 or args.passes_per_day < 1 or args.speed <= 0:
        raise ConfigError("--detectors and --passes-per-day must be >= 1, --speed > 0")
    ids = [f"{args.prefix}-{i:04d}" for i in range(args.detectors)]
    if args.central is None:
        args.central = laptop.addresses().get("collector")
        if args.central is None:
            raise ConfigError("--central: no laptop central serves here; give its collector")
    if args.pki_dir is None and not args.insecure:
        args.pki_dir = detector_pki(ids)
        if args.pki_dir is None:
            raise ConfigError("--pki-dir: no laptop central's site CA here; give the "
                              "detectors' certificates (or --insecure)")
    if args.pki_dir is not None:
        missing = [d for d in ids if not (args.pki_dir / f"detector-{d}.pem").exists()]
        if missing:
            raise ConfigError(f"--pki-dir {args.pki_dir}: no certificate for {missing[0]} "
                              f"({len(missing)} missing; roadside pki issue detector ID)")
    with ProgressLine(enabled=not args.quiet) as line:
        report = asyncio.run(_drive(args, ids, duration_s, line))
    for text in report:
        print(text)
    return 0


def _credentials(pki_dir: Path | None, detector_id: str) -> grpc.ChannelCredentials | None:
    if pki_dir is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=(pki_dir / "ca.pem").read_bytes(),
        private_key=(pki_dir / f"detector-{detector_id}.key").read_bytes(),
        certificate_chain=(pki_dir / f"detector-{detector_id}.pem").read_bytes())


def _batch(rng: random.Random, detector_id: str, bucket_s: int, mean: float,
           ) -> collector_pb2.UploadBatchRequest:
    passes = []
    for _ in range(_poisson(rng, mean)):
        t = bucket_s * S + rng.randrange(BUCKET_S * S)
        passes.append(types_pb2.Pass(
            ulid=str(ULID.from_timestamp((t - 2 * S) / S)), device_id=os.urandom(16).hex(),
            first_ns=t - 2 * S, peak_ns=t, last_ns=t + 3 * S, timestamp_ns=t,
            peak_rssi=-rng.randrange(50, 95), count=rng.randrange(1, 9),
            radio=types_pb2.RADIO_KIND_WIFI, address_kind=types_pb2.ADDRESS_KIND_WIFI_GLOBAL))
    return collector_pb2.UploadBatchRequest(detector_id=detector_id, batch_id=str(ULID()),
                                            passes=passes)


def _poisson(rng: random.Random, mean: float) -> int:
    return max(0, round(rng.gauss(mean, mean ** 0.5)))  # normal approximation: mean >> 1


async def _drive(args: argparse.Namespace, ids: list[str], duration_s: float,
                 line: ProgressLine) -> list[str]:
    rng = random.Random(args.seed)
    mean = args.passes_per_day * BUCKET_S / 86_400
    end_s = int(time.time()) - 60  # the last bucket closed a minute ago
    start_s = end_s - int(duration_s)
    # every (simulated send time, detector, bucket): a box sends a bucket after it closed
    phase = {d: rng.uniform(30, BUCKET_S) for d in ids}
    sends = sorted((b + BUCKET_S + phase[d], d, b) for d in ids
                   for b in range(start_s - start_s % BUCKET_S, end_s - BUCKET_S, BUCKET_S))
    channels = {d: _channel(args, d) for d in ({None} if args.insecure else ids)}
    stubs = {d: collector_pb2_grpc.CollectorServiceStub(c)  # type: ignore[no-untyped-call]
             for d, c in channels.items()}
    latencies: list[float] = []
    refused: Counter[str] = Counter()
    passes = [0]
    gate = asyncio.Semaphore(IN_FLIGHT)
    cpu0, db0 = _cpu(args.central_pid), _db_size(args.etcd_endpoint)
    real0 = time.monotonic()
    sim0 = sends[0][0] if sends else 0.0

    async def send(detector_id: str, bucket_s: int) -> None:
        request = _batch(rng, detector_id, bucket_s, mean)
        stub = stubs[None if args.insecure else detector_id]
        begin = time.perf_counter()
        try:
            await stub.UploadBatch(request, timeout=CALL_TIMEOUT_S)
            latencies.append(time.perf_counter() - begin)
            passes[0] += len(request.passes)
        except grpc.aio.AioRpcError as exc:
            refused[exc.code().name] += 1
        finally:
            gate.release()

    tasks = []
    for i, (at, detector_id, bucket_s) in enumerate(sends):
        wait = real0 + (at - sim0) / args.speed - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # the schedule: simulated time, compressed
        await gate.acquire()
        tasks.append(asyncio.create_task(send(detector_id, bucket_s)))
        line.update("load", i + 1, len(sends), f"{len(latencies)} calls  {passes[0]} passes  "
                    f"{sum(refused.values())} refused")
    await asyncio.gather(*tasks)
    real_s = time.monotonic() - real0
    for channel in channels.values():
        await channel.close()
    line.finish("load", len(sends), len(sends), f"{len(latencies)} calls  {passes[0]} passes")
    return _report(args, ids, duration_s, real_s, latencies, refused, passes[0],
                   (cpu0, _cpu(args.central_pid)), (db0, _db_size(args.etcd_endpoint)))


def _channel(args: argparse.Namespace, detector_id: str | None) -> grpc.aio.Channel:
    creds = _credentials(args.pki_dir, detector_id) if detector_id is not None else None
    if creds is None:
        return grpc.aio.insecure_channel(args.central)
    return grpc.aio.secure_channel(args.central, creds)


def _report(args: argparse.Namespace, ids: list[str], duration_s: float, real_s: float,
            latencies: list[float], refused: Counter[str], passes: int,
            cpu: tuple[float | None, float | None], db: tuple[int | None, int | None],
            ) -> list[str]:
    out = [f"{len(ids)} detectors x {args.passes_per_day}/day, {duration_s / 3600:g} h "
           f"simulated in {real_s:.1f} s (x{duration_s / max(real_s, 1e-9):.0f})",
           f"uploads: {len(latencies)} calls, {passes} passes: {len(latencies) / real_s:.0f} "
           f"calls/s, {passes / real_s:.0f} passes/s"]
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        out.append(f"upload latency: p50 {q[49] * 1e3:.1f} ms, p95 {q[94] * 1e3:.1f} ms, "
                   f"p99 {q[98] * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms")
    out.append("refused: " + (", ".join(f"{k} {v}" for k, v in refused.most_common())
                              or "none"))
    if cpu[0] is not None and cpu[1] is not None:
        out.append(f"central CPU: {cpu[1] - cpu[0]:.1f} s in {real_s:.1f} s "
                   f"({(cpu[1] - cpu[0]) / real_s * 100:.0f} % of a core); "
                   f"{(cpu[1] - cpu[0]) / max(passes, 1) * 1e6:.1f} us per pass")
    if db[0] is not None and db[1] is not None:
        per_day = (db[1] - db[0]) * 86_400 / duration_s
        out.append(f"etcd database: +{(db[1] - db[0]) / 2**20:.1f} MiB, "
                   f"{per_day / 2**20:.0f} MiB per simulated day "
                   f"({(db[1] - db[0]) / max(passes, 1):.0f} B per pass, before compaction)")
    if args.metrics:
        out.append(f"worker lag: {_lag(args.metrics)}")
    return out


def _cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _db_size(endpoint: str | None) -> int | None:
    if endpoint is None:
        return None
    import etcd3  # a dev tool's dependency (roadside[central])

    host, _, port = endpoint.rpartition(":")
    client = etcd3.client(host=host, port=int(port))
    try:
        return int(client.status().db_size)
    finally:
        client.close()


def _lag(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
    except OSError as exc:
        return f"cannot read {url}: {exc}"
    found = re.findall(r"^roadside_worker_lag_seconds(?:\{[^}]*\})? (\S+)$", text, re.M)
    return f"{max(float(v) for v in found):.1f} s" if found else "not reported"
