"""Catching up after an outage: Uplink draining a DiskBuffer backlog into a real central.

Starts etcd and central (in this process), fills a disk buffer with N passes (a detector
offline for a while), and times `Uplink.drain` until central has acknowledged all of them
(read from disk, gzip, UploadBatch, ack-delete). Baseline from the same run: the same
passes sent as prebuilt UploadBatch requests by a bare gRPC client (no buffer, no gzip).

    .venv/bin/python bench/bench_uplink_catchup.py [--passes N] [--batch B]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import grpc
from local_central import local_central

from roadside.agent.buffer import DiskBuffer
from roadside.agent.config import AgentConfig
from roadside.agent.model import AddressKind, Pass, RadioKind
from roadside.agent.passes import new_ulid, ulid_prefix
from roadside.agent.uplink import Uplink
from roadside.agent.wire import pass_to_row, row_to_pb
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc

PASSES_PER_DAY = 20_000  # a busy urban detector (for the catch-up estimate)
CALL_TIMEOUT_S = 30.0


def make_passes(n: int, detector: str) -> list[Pass]:
    t0 = time.time_ns() - 86_400 * 10**9  # a day ago
    out = []
    for i in range(n):
        device = f"{i * 2654435761 % 2**128:032x}"
        t = t0 + i * (86_400 * 10**9 // n)
        out.append(Pass(device, t, t + 4 * 10**9,
                        t + 2 * 10**9, -70, 5, RadioKind.WIFI, AddressKind.WIFI_LOCAL,
                        t + 2 * 10**9, True))
    return out


def baseline(addr: str, detector: str, passes: list[Pass], batch: int) -> float:
    prefix = ulid_prefix(detector)
    requests = [
        collector_pb2.UploadBatchRequest(
            detector_id=detector, batch_id=new_ulid(time.time_ns()),
            passes=[row_to_pb(pass_to_row(p), prefix) for p in passes[i : i + batch]],
        )
        for i in range(0, len(passes), batch)
    ]
    with grpc.insecure_channel(addr) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)  # type: ignore[no-untyped-call]
        start = time.perf_counter()
        for r in requests:
            stub.UploadBatch(r, timeout=CALL_TIMEOUT_S)
        return len(passes) / (time.perf_counter() - start)


async def catch_up(config: AgentConfig, path: Path, passes: list[Pass]) -> float:
    with DiskBuffer(path, 10**10) as buf:
        buf.append([(p.timestamp_ns, pass_to_row(p)) for p in passes])
        uplink = Uplink(config, buf)
        start = time.perf_counter()
        drained = await uplink.drain(600.0)
        elapsed = time.perf_counter() - start
        await uplink.close()
        assert drained and buf.depth() == 0, "backlog not drained"
    return len(passes) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000, help="batch_max_passes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-catchup-") as tmp_name:
        tmp = Path(tmp_name)
        with local_central(tmp) as central:
            raw = baseline(central.collector_addr, "bench-raw", make_passes(args.passes,
                           "bench-raw"), args.batch)
            config = dataclasses.replace(
                AgentConfig(), detector_id="bench-agent", central=(central.collector_addr,),
                batch_max_passes=args.batch, insecure=True,  # the bench's central is plaintext
            )
            agent = asyncio.run(catch_up(config, tmp / "buffer.db",
                                         make_passes(args.passes, "bench-agent")))
    print(f"backlog: {args.passes:,} passes, batches of {args.batch:,}, real central + etcd")
    print(f"baseline  bare UploadBatch client (prebuilt requests): {raw:>9,.0f} passes/s")
    print(f"Uplink.drain from the disk buffer (gzip, ack-delete) : {agent:>9,.0f} passes/s "
          f"({agent / raw:.0%} of the baseline)")
    print(f"a day offline at {PASSES_PER_DAY:,} passes/day catches up in "
          f"{PASSES_PER_DAY / agent:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
