"""`roadside central serve` as a real process with its embedded etcd."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.fixtures.serve import kill, start_serve, wait_serving

EXIT_DEADLINE_S = 30.0


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
    # the log goes to a file: a pipe read line by line behind select() misses lines that
    # arrive in one chunk
    log = tmp_path / "serve.log"
    proc = start_serve(
        log, "--data-dir", str(tmp_path), "--host", "127.0.0.1", "--collector-port", "0",
        "--query-port", "0", "--health-port", "0", "--embedded-etcd-port", "0",
        env={"ROADSIDE_NAMESPACE": "servetest"},
        insecure=True,  # reflection is served in development mode only
    )
    try:
        serving = wait_serving(proc, log)
        collector, query, health_addr = serving.collector, serving.query, serving.health
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
        kill(proc)
