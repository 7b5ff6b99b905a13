"""`roadside central serve` as a real process with its embedded etcd."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

START_DEADLINE_S = 60.0
EXIT_DEADLINE_S = 30.0
READY_RE = re.compile(r"central serving: collector (\S+), query (\S+), health (\S+);")


def _wait_ready(proc: subprocess.Popen[str]) -> tuple[str, str, str]:
    """Read the server's log until it names its ports (bounded by a deadline)."""
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + START_DEADLINE_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = READY_RE.search(line)
            if match:
                collector, query, health = match.groups()
                return collector.rstrip(","), query.rstrip(","), health
    proc.kill()
    raise AssertionError("central did not start:\n" + "".join(seen))


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def _services(addr: str) -> set[str]:
    with grpc.insecure_channel(addr) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in reply.list_services_response.service}


def test_serve_embedded_etcd_health_reflection_and_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "ROADSIDE_NAMESPACE": "servetest"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.main", "central", "serve", "--data-dir", str(tmp_path),
         "--host", "127.0.0.1", "--collector-port", "0", "--query-port", "0",
         "--health-port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        collector, query, health_addr = _wait_ready(proc)
        [etcd_pid] = _children(proc.pid)
        assert "etcd" in Path(f"/proc/{etcd_pid}/cmdline").read_text()

        with grpc.insecure_channel(health_addr) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

        assert {"roadside.v1.CollectorService", "collector.CollectorService",
                "grpc.health.v1.Health"} <= _services(collector)
        assert {"roadside.v1.QueryService", "query.QueryService"} <= _services(query)
        assert "grpc.health.v1.Health" in _services(health_addr)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_DEADLINE_S) == 0
        # the etcd child went with it (it was terminated, not orphaned)
        assert not Path(f"/proc/{etcd_pid}").exists()
        # the data lives in the data dir
        assert (tmp_path / "etcd" / "member").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
