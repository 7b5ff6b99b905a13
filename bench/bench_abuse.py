"""Abuse benchmark: central's memory and an agent's upload latency while clients misbehave.

    python bench/bench_abuse.py [--passes 400000] [--streams 16] [--stream-detections 100000]

Runs `roadside central serve` as a child process on its own etcd and measures its resident
memory (VmRSS sampled, VmHWM at the end) while, one after another:
  1. four StreamEvents(follow) clients that never read while `--passes` passes arrive;
  2. `--streams` concurrent original-API StreamEventLog uploads of `--stream-detections`;
  3. `--streams` concurrent requests of 30 MiB, then of just under gRPC's own limit (1.5 x
     max_message_bytes: received, then refused by the edge), all refused;
beside its idle RSS in the same run (target: under 300 MB whatever the clients do). An
agent-like client sends one UploadBatch of 100 passes every 0.2 s throughout; its latency
on the idle central is the baseline for its latency during each abuse.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
from google.protobuf import timestamp_pb2
from ulid import ULID

from roadside.central.store.etcd_process import EtcdProcess, free_port
from roadside.proto.collector import collector_pb2 as legacy_pb2
from roadside.proto.collector import collector_pb2_grpc as legacy_grpc
from roadside.proto.v1 import (
    collector_pb2,
    collector_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    types_pb2,
)
from tests.fixtures.serve import kill, start_serve, wait_serving

S = 1_000_000_000
MIB = 1024 * 1024
TARGET_MB = 300


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The largest VmRSS of `pid` seen while running (sampled every 50 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> Sampler:
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Prober:
    """An agent: UploadBatch of 100 passes every 0.2 s, latencies kept per phase."""

    def __init__(self, addr: str) -> None:
        self.channel = grpc.insecure_channel(addr)
        self.stub = collector_pb2_grpc.CollectorServiceStub(self.channel)
        self.phase = "idle"
        self.latency: dict[str, list[float]] = {}
        self.failed: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            now = time.time_ns() - 60 * S
            passes = [_pass(now + i, 10**9 + self._n * 100 + i) for i in range(100)]
            self._n += 1
            request = collector_pb2.UploadBatchRequest(detector_id="probe", batch_id=str(ULID()),
                                                       passes=passes)
            started = time.perf_counter()
            try:
                self.stub.UploadBatch(request, timeout=10)
            except grpc.RpcError:
                self.failed[self.phase] = self.failed.get(self.phase, 0) + 1
                continue
            self.latency.setdefault(self.phase, []).append(time.perf_counter() - started)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.channel.close()


def _pass(t: int, device: int) -> types_pb2.Pass:
    return types_pb2.Pass(
        ulid=str(ULID.from_timestamp(t / S)), device_id=f"{device:032x}", first_ns=t,
        peak_ns=t, last_ns=t, timestamp_ns=t, peak_rssi=-60, count=1,
        radio=types_pb2.RADIO_KIND_WIFI, address_kind=types_pb2.ADDRESS_KIND_WIFI_GLOBAL)


def slow_followers(collector: str, query: str, passes: int) -> str:
    q = grpc.insecure_channel(query)
    follows = [query_pb2_grpc.QueryServiceStub(q).StreamEvents(
        query_pb2.StreamEventsRequest(follow=True), timeout=600) for _ in range(4)]
    c = grpc.insecure_channel(collector)
    upload = collector_pb2_grpc.CollectorServiceStub(c).UploadBatch
    now = time.time_ns() - 3600 * S
    detectors = max(1, passes // 100_000)
    per = passes // detectors

    def one(d: int) -> None:
        for start in range(0, per, 1000):
            batch = [_pass(now + (start + i) * 1000, d * 10**7 + start + i) for i in range(1000)]
            upload(collector_pb2.UploadBatchRequest(detector_id=f"flood-{d}",
                                                    batch_id=str(ULID()), passes=batch),
                   timeout=60)

    threads = [threading.Thread(target=one, args=(d,)) for d in range(detectors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = []
    for f in follows:
        try:
            for _ in f:
                pass
        except grpc.RpcError as exc:
            ended.append(exc.code().name)
    q.close()
    c.close()
    return f"followers ended: {', '.join(ended)}"


def stream_uploads(collector: str, streams: int, detections: int) -> str:
    codes: list[str] = []
    now = int(time.time()) - 3600

    def one(k: int) -> None:
        def logs():  # type: ignore[no-untyped-def]
            for m in range(0, detections, 1000):
                yield legacy_pb2.EventLog(
                    loc=legacy_pb2.Coordinates(detector_id=f"legacy-{k}"),
                    events=[legacy_pb2.DetectionEvent(
                        wifi=f"d{k}x{m + i}", time=[timestamp_pb2.Timestamp(seconds=now + i)])
                        for i in range(1000)])

        with grpc.insecure_channel(collector) as ch:
            try:
                legacy_grpc.CollectorServiceStub(ch).StreamEventLog(logs(), timeout=600)
                codes.append("OK")
            except grpc.RpcError as exc:
                codes.append(exc.code().name)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "streams: " + ", ".join(f"{codes.count(c)} {c}" for c in sorted(set(codes)))


def oversized(collector: str, streams: int, size: int) -> str:
    codes: list[str] = []
    big = collector_pb2.UploadBatchRequest(detector_id="big", batch_id=str(ULID()),
                                           passes=[_pass(time.time_ns(), 1)])
    filler = b"x" * size  # an unknown field 18 of `size` bytes: a valid message, too big
    length = bytearray()
    n = size
    while True:
        length.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    payload = big.SerializeToString() + b"\x92\x01" + bytes(length) + filler

    def one() -> None:
        with grpc.insecure_channel(collector) as ch:
            call = ch.unary_unary("/roadside.v1.CollectorService/UploadBatch")
            try:
                call(payload, timeout=60)
                codes.append("OK")
            except grpc.RpcError as exc:
                codes.append(exc.code().name)

    threads = [threading.Thread(target=one) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return f"{size / MIB:.1f} MiB requests: " + ", ".join(
        f"{codes.count(c)} {c}" for c in sorted(set(codes)))


def figures(values: list[float]) -> str:
    if not values:
        return "no answer"
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=400_000)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--stream-detections", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roadside-abuse-") as tmp:
        etcd = EtcdProcess(Path(tmp) / "etcd")
        etcd.start()
        ports = [free_port() for _ in range(3)]
        log = Path(tmp) / "central.log"
        proc = start_serve(log, "--etcd-endpoints", etcd.endpoint, "--host", "127.0.0.1",
                           "--collector-port", str(ports[0]), "--query-port", str(ports[1]),
                           "--health-port", str(ports[2]), "--namespace", "abuse",
                           "--data-dir", str(Path(tmp) / "central"),
                           insecure=True)  # plaintext clients: the bounds, not TLS, measured
        try:
            serving = wait_serving(proc, log)
            prober = Prober(serving.collector)
            prober.start()
            time.sleep(3)  # the idle baseline: a few seconds of the prober alone
            idle = rss_mb(proc.pid)
            print(f"central idle: {idle:.0f} MB RSS; agent UploadBatch of 100: "
                  f"{figures(prober.latency.get('idle', []))}", flush=True)
            phases: list[tuple[str, Callable[[], str]]] = [
                ("slow followers", lambda: slow_followers(serving.collector, serving.query,
                                                          args.passes)),
                ("stream uploads", lambda: stream_uploads(serving.collector, args.streams,
                                                          args.stream_detections)),
                ("30 MiB requests", lambda: oversized(serving.collector, args.streams, 30 * MIB)),
                ("just under gRPC's limit", lambda: oversized(serving.collector, args.streams,
                                                              int(5.9 * MIB))),
            ]
            worst = idle
            for name, run in phases:
                prober.phase = name
                with Sampler(proc.pid) as sampler:
                    started = time.perf_counter()
                    outcome = run()
                    took = time.perf_counter() - started
                worst = max(worst, sampler.peak)
                print(f"{name}: peak {sampler.peak:.0f} MB RSS (idle {idle:.0f} MB) in "
                      f"{took:.1f} s; {outcome}; agent UploadBatch: "
                      f"{figures(prober.latency.get(name, []))}, "
                      f"{prober.failed.get(name, 0)} failed", flush=True)
            prober.stop()
            after = rss_mb(proc.pid)
            hwm = rss_mb(proc.pid, "VmHWM")
            # a verdict only when central answered the agent's calls through the abuse
            answered = sum(len(v) for v in prober.latency.values())
            measured = answered > 0
            verdict = ("meets" if hwm < TARGET_MB else "MISSES") if measured else \
                f"NOT MEASURED ({answered} answered, {sum(prober.failed.values())} failed)"
            print(f"central peak (VmHWM) {hwm:.0f} MB, {after:.0f} MB after the abuse, idle "
                  f"{idle:.0f} MB: {verdict} the {TARGET_MB} MB target; worst sampled "
                  f"{worst:.0f} MB", flush=True)
        finally:
            kill(proc)
            etcd.stop()
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
