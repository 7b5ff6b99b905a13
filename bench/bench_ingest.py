"""Ingest benchmark: detections/s through UploadBatch beside raw etcd transactions, same etcd.

    python bench/bench_ingest.py [--detections 200000] [--clients 4] [--batch 1000]

Starts its own etcd (EtcdProcess in a temp dir) and then, on that etcd:
  1. baseline: `clients` threads putting detection-shaped key/values, leased, in
     transactions of 128 puts straight from Python (cslab-etcd3);
  2. central: `start_central` in this process, `clients` processes calling UploadBatch with
     batches of `batch` passes (built before the clock starts).
Prints both rates, their ratio (target >= 0.7), the CPU each side spends per put or
detection (this process: the raw threads, then central's server; the upload client
processes; etcd), and the capacity arithmetic from etcd's db size growth per detection.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
from etcd3 import transactions
from ulid import ULID

from roadside.central.api.server import start_central
from roadside.central.config import CentralConfig
from roadside.central.pki.ca import SiteCA
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import MAX_TXN_OPS
from roadside.central.store.records import StoredPass
from roadside.common.identity import Identity
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2

S = 1_000_000_000
GIB = 1024**3
CALL_TIMEOUT_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds this process and etcd spend between start() and stop()."""

    def __init__(self, etcd_pid: int) -> None:
        self.etcd_pid = etcd_pid
        self.own_s = self.etcd_s = 0.0

    def start(self) -> None:
        self._own, self._etcd = time.process_time(), process_cpu_s(self.etcd_pid)

    def stop(self) -> None:
        self.own_s = time.process_time() - self._own
        self.etcd_s = process_cpu_s(self.etcd_pid) - self._etcd


def _pass(worker: int, i: int, now_ns: int) -> types_pb2.Pass:
    t = now_ns - (i % 3000) * S  # spread over the last hour: ~30 buckets
    return types_pb2.Pass(
        ulid=str(ULID.from_timestamp(t / S)), device_id=f"{worker:08x}{i:024x}",
        first_ns=t - 3 * S, peak_ns=t, last_ns=t + S, timestamp_ns=t, peak_rssi=-71, count=5,
        radio=types_pb2.RADIO_KIND_WIFI, address_kind=types_pb2.ADDRESS_KIND_WIFI_LOCAL,
    )


# baseline ---------------------------------------------------------------------

def raw_ops(worker: int, count: int, lease_id: int, now_ns: int) -> list[list[object]]:
    """The transactions one baseline thread sends, built before the clock starts."""
    writes = []
    for i in range(count):
        p = _pass(worker, i, now_ns)
        record = StoredPass(f"raw-{worker}", p.ulid, p.device_id, p.timestamp_ns, p.first_ns,
                            p.last_ns, p.peak_ns, p.peak_rssi, p.count, "wifi", "wifi_local")
        writes.append(transactions.Put(record.key("rawbench"), record.to_json(), lease=lease_id))
    return [writes[i:i + MAX_TXN_OPS] for i in range(0, count, MAX_TXN_OPS)]


def raw_worker(endpoint: str, txns: list[list[object]], go: threading.Barrier) -> None:
    client = connect([endpoint], timeout=CALL_TIMEOUT_S)
    try:
        go.wait()
        for ops in txns:
            client.transaction(compare=[], success=ops, failure=[])
    finally:
        client.close()


def run_raw(
    endpoint: str, clients: int, per_client: int, first_worker: int, cpu: CpuMeter
) -> float:
    client = connect([endpoint])
    lease = client.lease(86_400)
    now = time.time_ns()
    go = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(target=raw_worker, name=f"raw-{w}",
                         args=(endpoint, raw_ops(w, per_client, lease.id, now), go))
        for w in range(first_worker, first_worker + clients)
    ]
    for t in threads:
        t.start()
    go.wait()
    cpu.start()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu.stop()
    client.close()
    return clients * per_client / elapsed


# central ----------------------------------------------------------------------

def upload_worker(addr: str, worker: int, count: int, batch: int, ready, go, done,  # type: ignore[no-untyped-def]
                  tls: tuple[bytes, bytes, bytes] | None = None) -> None:
    now = time.time_ns()
    batches = []
    for start in range(0, count, batch):
        passes = [_pass(worker, i, now) for i in range(start, min(count, start + batch))]
        batches.append(collector_pb2.UploadBatchRequest(
            detector_id=f"bench-{worker}", batch_id=str(ULID()), passes=passes))
    channel = (grpc.insecure_channel(addr) if tls is None else grpc.secure_channel(
        addr, grpc.ssl_channel_credentials(tls[0], tls[1], tls[2])))
    with channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        ready.put(worker)
        go.wait()
        cpu = time.process_time()
        stored = 0
        for request in batches:
            stored += stub.UploadBatch(request, timeout=CALL_TIMEOUT_S).stored
        cpu = time.process_time() - cpu
    done.put((stored, cpu))


def run_central(
    addr: str, clients: int, per_client: int, batch: int, first_worker: int, cpu: CpuMeter,
    site: SiteCA | None = None,
) -> tuple[float, float]:
    """(detections/s, CPU seconds of the upload client processes)."""
    ctx = mp.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=upload_worker, name=f"upload-{w}",
                    args=(addr, w, per_client, batch, ready, go, done, _tls(site, w)))
        for w in range(first_worker, first_worker + clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    cpu.start()
    started = time.perf_counter()
    go.set()
    results = [done.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - started
    cpu.stop()
    for p in procs:
        p.join()
    stored = sum(n for n, _ in results)
    assert stored == clients * per_client, stored
    return stored / elapsed, sum(c for _, c in results)


def _tls(site: SiteCA | None, worker: int) -> tuple[bytes, bytes, bytes] | None:
    """(CA, key, certificate) of detector bench-WORKER, or None for plaintext."""
    if site is None:
        return None
    issued = site.issue(Identity("detector", f"bench-{worker}"))
    return site.cert_pem, issued.key_pem, issued.cert_pem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detections", type=int, default=120_000, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw and central phases alternate this many times (load is shared)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000, help="passes per UploadBatch")
    parser.add_argument("--per-detector-day", type=int, default=50_000,
                        help="detections per detector per day for the capacity table")
    parser.add_argument("--retention-days", type=float, default=7.0)
    args = parser.parse_args()
    per_client = args.detections // args.clients
    raw_rates: list[float] = []
    central_rates: list[float] = []
    tls_rates: list[float] = []
    # CPU microseconds per put / detection, per round
    raw_cpu: list[tuple[float, float]] = []  # (raw client threads, etcd)
    central_cpu: list[tuple[float, float, float]] = []  # (server, upload clients, etcd)
    db_growth = 0

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, \
            EtcdProcess(Path(tmp) / "etcd", quota_bytes=8 * GIB) as etcd:
        print(f"etcd on {etcd.endpoint}; {args.clients} clients x {per_client} detections; "
              f"{args.rounds} rounds of raw then central")
        admin = connect([etcd.endpoint])
        config = CentralConfig(
            host="127.0.0.1", collector_port=0, query_port=0, health_port=0,
            etcd_endpoints=(etcd.endpoint,), namespace="bench", data_dir=Path(tmp) / "central",
            max_batch_passes=max(args.batch, 5000), workers=max(8, 2 * args.clients),
            http=False, metrics=False, enroll_port=0,  # only the gRPC ingest is measured
        )
        assert etcd._proc is not None
        cpu = CpuMeter(etcd.pid or 0)
        us = 1e6 / (args.clients * per_client)  # CPU seconds of a phase -> us per item
        central = start_central(replace(config, insecure=True))
        site = SiteCA.init(Path(tmp) / "pki")
        secure = start_central(replace(config, namespace="bench-tls", pki_dir=site.directory))
        try:
            for r in range(args.rounds):
                first_worker = r * args.clients  # every round writes new keys
                raw_rates.append(
                    run_raw(etcd.endpoint, args.clients, per_client, first_worker, cpu))
                raw_cpu.append((cpu.own_s * us, cpu.etcd_s * us))
                before = admin.status().db_size
                rate, clients_s = run_central(
                    central.collector_addr, args.clients, per_client, args.batch, first_worker,
                    cpu)
                central_rates.append(rate)
                central_cpu.append((cpu.own_s * us, clients_s * us, cpu.etcd_s * us))
                db_growth += admin.status().db_size - before
                tls_rate, _ = run_central(
                    secure.collector_addr, args.clients, per_client, args.batch, first_worker,
                    cpu, site)
                tls_rates.append(tls_rate)
                print(f"  round {r + 1}: raw txn(128) {raw_rates[-1]:9,.0f} puts/s   "
                      f"central UploadBatch {central_rates[-1]:9,.0f} detections/s   "
                      f"ratio {central_rates[-1] / raw_rates[-1]:.2f}   "
                      f"with mTLS and roles {tls_rates[-1]:9,.0f} "
                      f"({tls_rates[-1] / central_rates[-1]:.2f} of plaintext)", flush=True)
        finally:
            secure.stop(5)
            central.stop(5)
            admin.close()

    raw, rate = statistics.median(raw_rates), statistics.median(central_rates)
    print(f"median raw etcd txn(128):  {raw:10,.0f} puts/s (baseline, same etcd, same run)")
    print(f"median central UploadBatch:{rate:10,.0f} detections/s")
    paired = statistics.median(c / r for c, r in zip(central_rates, raw_rates, strict=True))
    print(f"ratio of medians:          {rate / raw:10.2f}   (target >= 0.70)")
    print(f"median of round ratios:    {paired:10.2f}   (each round: raw, then central)")
    tls = statistics.median(tls_rates)
    tls_paired = statistics.median(t / c for t, c in zip(tls_rates, central_rates, strict=True))
    print(f"median with mTLS + roles:  {tls:10,.0f} detections/s = {tls / rate:.2f} of "
          f"plaintext (rounds {tls_paired:.2f}; target >= 0.85)")
    raw_client, raw_etcd = (statistics.median(x) for x in zip(*raw_cpu, strict=True))
    server, clients, central_etcd = (statistics.median(x) for x in zip(*central_cpu, strict=True))
    print()
    print("CPU per put / detection (median of rounds; the machine has "
          f"{os.cpu_count()} cores, shared by all of these):")
    print(f"  raw:     client threads {raw_client:5.1f} us/put        "
          f"etcd {raw_etcd:5.1f} us/put")
    print(f"  central: server {server:5.1f} us/detection   upload clients {clients:5.1f}   "
          f"etcd {central_etcd:5.1f}")

    stored = args.rounds * args.clients * per_client
    per_detection = max(1.0, db_growth / stored)
    per_detector = per_detection * args.per_detector_day * args.retention_days
    print()
    print("capacity (etcd db growth per stored detection, this run):")
    print(f"  bytes per detection (key + value + index, in etcd's db): {per_detection:,.0f}")
    print(f"  per detector: {args.per_detector_day:,} detections/day x "
          f"{args.retention_days:g} days = {per_detector / 2**20:,.0f} MiB")
    for quota in (2, 8):
        print(f"  {quota} GiB quota: ~{quota * GIB / per_detector:,.0f} detectors at that rate; "
              f"one detector for ~{quota * GIB / (per_detection * args.per_detector_day):,.0f} "
              "days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
