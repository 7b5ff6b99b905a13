"""Query throughput: 100,000 stored events through StreamEvents and GetEvents paging.

Baseline, same run, same keys: raw etcd range reads from Python (the etcd3 client, chunks
of the same size), the packed blocks decoded into passes (central/store/packed.py) but not
sorted, merged or sent: the ceiling of what the query server can do.
Each figure is the median of --runs rounds (default 5); a round measures the baseline and
every call back to back. Target: streaming every event >= 0.7 of the baseline, as
StreamEventPages (a message per event in each page) and as StreamEventColumns (each page
as columns); StreamEvents sends one gRPC message per event and is shown for scale.

    .venv/bin/python bench/bench_query.py [--events 100000] [--detectors 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from ulid import ULID

from roadside.central.store import keys, packed
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess, free_port
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.event_reads import CHUNK_KEYS, MAX_PAGE
from roadside.central.store.records import StoredPass
from roadside.common.main import tune_gc
from roadside.proto.v1 import query_pb2, query_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
NS = "bench"
S = 1_000_000_000
TARGET_RATIO = 0.7  # a stream of every event / baseline
STORE_CHUNK = 5000  # passes per put_passes call
CALL_TIMEOUT_S = 600.0
SERVER_START_S = 30.0


def make_passes(count: int, detectors: int) -> list[StoredPass]:
    base = (time.time_ns() // S - 86_400) * S  # a day ago: inside retention
    out = []
    for i in range(count):
        t = base + i * 10_000_000  # 100 per second
        out.append(StoredPass(
            detector_id=f"det-{i % detectors:02d}", ulid=str(ULID.from_timestamp(t / S)),
            device_id=os.urandom(16).hex(), timestamp_ns=t, first_ns=t - S, last_ns=t + S,
            peak_ns=t, peak_rssi=-60, count=3, radio="ble", address_kind="ble_public",
        ))
    return out


def median_of(rounds: list[tuple[int, float]]) -> tuple[int, float]:
    """The round with the median rate (the machine is shared: rounds vary)."""
    return sorted(rounds, key=lambda r: r[1] / max(r[0], 1))[len(rounds) // 2]


def rate(count: int, seconds: float) -> str:
    return f"{count:>7} events in {seconds:6.2f} s = {count / seconds:>9,.0f} events/s"


def raw_range_read(client: object, chunk: int) -> tuple[int, float]:
    """The same keys read in chunks and their blocks decoded into passes (no sorting, no
    gRPC): the floor of what a query of every event costs."""
    prefix = keys.detections_prefix(NS)
    start, end = prefix, keys.prefix_end(prefix)
    count = 0
    t0 = time.perf_counter()
    while True:
        resp = client.get_range_response(start, end, limit=chunk)  # type: ignore[attr-defined]
        count += sum(len(packed.decode(NS, kv.key, kv.value)) for kv in resp.kvs)
        if not resp.more or not resp.kvs:
            return count, time.perf_counter() - t0
        start = resp.kvs[-1].key.decode() + "\0"


def stream_all(stub: query_pb2_grpc.QueryServiceStub) -> tuple[int, float]:
    t0 = time.perf_counter()
    count = 0
    for _event in stub.StreamEvents(query_pb2.StreamEventsRequest(), timeout=CALL_TIMEOUT_S):
        count += 1
    return count, time.perf_counter() - t0


def stream_pages(stub: query_pb2_grpc.QueryServiceStub) -> tuple[int, float]:
    t0 = time.perf_counter()
    count = 0
    for page in stub.StreamEventPages(query_pb2.StreamEventsRequest(), timeout=CALL_TIMEOUT_S):
        count += len(page.events)
    return count, time.perf_counter() - t0


def stream_columns(stub: query_pb2_grpc.QueryServiceStub) -> tuple[int, float]:
    t0 = time.perf_counter()
    count = 0
    for page in stub.StreamEventColumns(query_pb2.StreamEventsRequest(),
                                        timeout=CALL_TIMEOUT_S):
        count += len(page.ulid)
    return count, time.perf_counter() - t0


def page_all(stub: query_pb2_grpc.QueryServiceStub, limit: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    count, token = 0, ""
    while True:
        resp = stub.GetEvents(
            query_pb2.GetEventsRequest(limit=limit, page_token=token), timeout=CALL_TIMEOUT_S
        )
        count += len(resp.events)
        token = resp.next_page_token
        if not token:
            return count, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--detectors", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5,
                        help="rounds; each figure is their median (default 5)")
    args = parser.parse_args()
    tune_gc()  # as every roadside process runs: baselines and roadside alike

    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        etcd = EtcdProcess(Path(tmp) / "etcd")
        etcd.start()
        server = None
        client = connect([etcd.endpoint])
        try:
            store = EtcdStore(client, NS)
            passes = make_passes(args.events, args.detectors)
            t0 = time.perf_counter()
            for i in range(0, len(passes), STORE_CHUNK):
                store.put_passes(passes[i:i + STORE_CHUNK])
                print(f"  stored {min(i + STORE_CHUNK, len(passes))}/{len(passes)}",
                      file=sys.stderr, end="\r", flush=True)
            print(file=sys.stderr)
            print(f"{'store (put_passes)':<36} {rate(len(passes), time.perf_counter() - t0)}")
            # central in its own process, as in production (no GIL shared with this client)
            query_addr = f"127.0.0.1:{free_port()}"
            server = subprocess.Popen(
                [sys.executable, "-m", "roadside.common.main", "--log-level", "warning", "central",
                 "serve", "--host", "127.0.0.1", "--etcd-endpoints", etcd.endpoint,
                 "--namespace", NS, "--query-port", query_addr.rsplit(":", 1)[1],
                 "--collector-port", "0", "--health-port", "0", "--data-dir", tmp,
                 "--http-port", "0", "--metrics-port", "0", "--enroll-port", "0",
                 "--insecure"],  # reads as fast as they go: TLS costs are bench_ingest's
                cwd=ROOT,
            )

            with grpc.insecure_channel(
                query_addr, options=[("grpc.max_receive_message_length", 64 << 20)]
            ) as channel:
                grpc.channel_ready_future(channel).result(timeout=SERVER_START_S)
                stub = query_pb2_grpc.QueryServiceStub(channel)  # type: ignore[no-untyped-call]
                calls: dict[str, Callable[[], tuple[int, float]]] = {
                    "baseline: raw etcd range reads": lambda: raw_range_read(client, CHUNK_KEYS),
                    "StreamEventPages": lambda: stream_pages(stub),
                    "StreamEventColumns": lambda: stream_columns(stub),
                    "GetEvents, pages of 1000": lambda: page_all(stub, 1000),
                    f"GetEvents, pages of {MAX_PAGE}": lambda: page_all(stub, MAX_PAGE),
                }
                rounds: dict[str, list[tuple[int, float]]] = {name: [] for name in calls}
                for n in range(args.runs):
                    for name, call in calls.items():
                        rounds[name].append(call())
                    print(f"  round {n + 1}/{args.runs}", file=sys.stderr, end="\r", flush=True)
                print(file=sys.stderr)
                results = {name: median_of(r) for name, r in rounds.items()}
                results["StreamEvents (one event a message)"] = stream_all(stub)  # slow: once
            raw_count, raw_s = results["baseline: raw etcd range reads"]
            raw_rate = raw_count / raw_s
            for name, (n, secs) in results.items():
                extra = (f"(chunks of {CHUNK_KEYS} keys)" if name.startswith("baseline")
                         else f"{n / secs / raw_rate:.2f} of raw")
                print(f"{name:<36} {rate(n, secs)}  {extra}")
            counts = [n for n, _secs in results.values()]
            if any(c != len(passes) for c in counts):
                print(f"MISMATCH: stored {len(passes)}, read {counts}: NOT MEASURED")
                return 1
            for name in ("StreamEventPages", "StreamEventColumns"):
                n, secs = results[name]
                ratio = n / secs / raw_rate
                verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
                print(f"target {name} >= {TARGET_RATIO} of raw: {verdict} ({ratio:.2f}, "
                      f"median of {args.runs} rounds)")
        finally:
            if server is not None:
                server.terminate()
                server.wait(SERVER_START_S)
            client.close()
            etcd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
