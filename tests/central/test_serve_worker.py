"""`roadside central serve` on a laptop: embedded etcd on a stable port and a travel-time
worker in the same process, so `roadside query travel-times` shows windows."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.config import CentralConfig, load_config
from roadside.central.store.etcd_process import free_port
from roadside.central.traveltime.in_serve import serve_worker_config
from roadside.common.main import main
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2
from tests.central.helpers import S, make_batch, make_pass
from tests.fixtures.polling import wait_until
from tests.fixtures.serve import START_S, kill, serve_site, start_serve, wait_serving
from tests.fixtures.trust import ANALYST, AsOperator, Site

PUBLISH_S = 60.0
EXIT_S = 30.0
CALL_S = 10.0
WINDOW_S = 300


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "serve.log"
    proc = start_serve(
        log, "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--collector-port",
        "0", "--query-port", "0", "--health-port", "0", *args, env={"ROADSIDE_NAMESPACE": "sw"},
    )
    return proc, log


def _link(site: Site, collector: str) -> None:
    """Register detectors a and b and link a -> b."""
    with site.routed(collector) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        for det in ("a", "b"):
            stub.RegisterDetector(collector_pb2.RegisterDetectorRequest(
                detector=types_pb2.Detector(id=det, name=det)), timeout=CALL_S)
        stub.SetLinks(collector_pb2.SetLinksRequest(
            dest_detector_id="b",
            sources=[collector_pb2.LinkSource(src_detector_id="a", max_seconds=600)],
        ), timeout=CALL_S)


def _upload_trips(site: Site, collector: str, window_start_s: int, travel_s: list[int],
                  ) -> None:
    """Each device's pass at a, then travel_s later at b, inside the window."""
    with site.routed(collector) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        at_b = [(window_start_s + 60 + 10 * i) * S for i in range(len(travel_s))]
        src = [make_pass(at_b[i] - s * S, device=i) for i, s in enumerate(travel_s)]
        dest = [make_pass(t, device=i) for i, t in enumerate(at_b)]
        stub.UploadBatch(make_batch("a", src), timeout=CALL_S)
        stub.UploadBatch(make_batch("b", dest), timeout=CALL_S)


def _query(site: Site, query: str, capsys: pytest.CaptureFixture[str],
           ) -> tuple[list[dict[str, object]], str]:
    assert main(["query", "travel-times", "--from", "a", "--to", "b", "--since", "2h",
                 "--format", "json", "--query-host", query, *site.cli(ANALYST)]) == 0
    out = capsys.readouterr()
    return [json.loads(line) for line in out.out.splitlines()], out.err


def test_serve_runs_a_worker_on_its_embedded_etcd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # k 3 comes from the YAML worker section: with the default k 5 the window is suppressed
    config = tmp_path / "central.yaml"
    config.write_text("central:\n  retention_days: 2\nworker:\n  k: 3\n")
    port = free_port()
    proc, log = _serve(tmp_path, "--config", str(config), "--embedded-etcd-port", str(port))
    try:
        serving = wait_serving(proc, log)
        collector, query = serving.collector, serving.query
        assert serving.etcd == f"127.0.0.1:{port}"  # the stable port other commands are told about
        text = log.read_text()
        assert f"--etcd-endpoints 127.0.0.1:{port}" in text
        assert "travel-time worker in this process" in text and "k 3" in text

        site = serve_site(tmp_path / "data")
        _link(site, collector)
        rows, err = _query(site, query, capsys)
        assert rows == [] and "no windows in that time range" in err  # the hint, stderr only

        # a window that closed half an hour ago: published without waiting for grace
        window = (int(time.time()) - 1800) // WINDOW_S * WINDOW_S
        _upload_trips(site, collector, window, [100, 140, 120])

        def published() -> bool:
            return bool(_query(site, query, capsys)[0])

        wait_until(published, within_s=PUBLISH_S, what="a published window")
        rows, err = _query(site, query, capsys)
        [row] = [r for r in rows if r["window_start_ns"] == window * S]
        assert row["count"] == 3 and row["median_s"] == 120.0 and not row["suppressed"]
        assert all(r["count"] == 0 for r in rows if r is not row)  # the windows around it
        assert "no windows yet" not in err
        site.close()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_S) == 0
        text = log.read_text()
        assert re.search(r"travel-time worker stopping: [1-9]\d* windows published", text)
        assert text.index("travel-time worker stopping") < text.index("central stopped")
    finally:
        kill(proc)


def test_embedded_etcd_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, log = _serve(tmp_path, "--embedded-etcd-port", str(port))
        try:
            assert proc.wait(START_S) == 2
        finally:
            kill(proc)
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{port} is in use" in lines[0] and "embedded_etcd_port" in lines[0]
    assert not (tmp_path / "data" / "etcd").exists()  # nothing was started


def test_worker_defaults_on_with_embedded_etcd_only() -> None:
    assert CentralConfig().runs_worker
    assert not CentralConfig(etcd_endpoints=("10.0.0.5:2379",)).runs_worker
    assert CentralConfig(etcd_endpoints=("10.0.0.5:2379",), worker=True).runs_worker
    assert not CentralConfig(worker=False).runs_worker


def test_worker_settings_from_yaml_section_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = tmp_path / "flat.yaml"  # serve's settings at the top level: the worker's defaults
    flat.write_text("retention_days: 2\ngrace_s: 3\n")
    config = serve_worker_config(flat, "ns1", ["127.0.0.1:2379"])
    assert (config.grace_s, config.retention_days, config.k) == (90.0, 365.0, 5)
    assert config.namespace == "ns1" and config.etcd_endpoints == ("127.0.0.1:2379",)

    both = tmp_path / "both.yaml"
    both.write_text("central: {grace_s: 3}\nworker: {k: 4, namespace: other, window_s: 600}\n")
    monkeypatch.setenv("ROADSIDE_GRACE_S", "7")  # serve's drain time, not the worker's
    monkeypatch.setenv("ROADSIDE_WORKER_GRACE_S", "30")
    config = serve_worker_config(both, "ns1", ["127.0.0.1:2380"])
    assert (config.k, config.window_s, config.grace_s) == (4, 600, 30.0)
    assert config.namespace == "ns1"  # serve's namespace wins


def test_installed_central_runs_no_worker_of_its_own() -> None:
    """The example config the installer copies: the roadside-worker@N units do the work."""
    example = Path(__file__).parents[2] / "systemd" / "central.example.yaml"
    central = load_config(example, env={})
    assert central.etcd_endpoints and not central.runs_worker
    without_etcd = load_config(example, env={"ROADSIDE_ETCD_ENDPOINTS": ""})
    assert without_etcd.runs_worker  # the embedded etcd brings its worker along


def test_empty_detectors_and_events_hint_on_stderr_only(
    central: RunningCentral, capsys: pytest.CaptureFixture[str], as_operator: AsOperator,
) -> None:
    as_operator(ANALYST)
    for argv, hint in ((["query", "detectors"], "no detectors yet"),
                       (["query", "events"], "no events")):
        assert main([*argv, "--format", "json", "--query-host", central.query_addr]) == 0
        out = capsys.readouterr()
        assert out.out == "" and hint in out.err


def test_a_second_serve_on_a_data_dir_in_use_says_who_has_it(tmp_path: Path) -> None:
    first, log = _serve(tmp_path, "--embedded-etcd-port", "0")
    try:
        wait_serving(first, log)
        second_log = tmp_path / "second.log"
        second = start_serve(
            second_log, "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1",
            "--collector-port", "0", "--query-port", "0", "--health-port", "0",
            "--embedded-etcd-port", "0")
        try:
            assert second.wait(START_S) == 2
        finally:
            kill(second)
        lines = second_log.read_text().strip().splitlines()
        assert len(lines) == 1, lines
        assert f"{tmp_path / 'data'} is in use by another embedded etcd" in lines[0]
        assert f"the process {first.pid}" in lines[0]
        assert first.poll() is None  # the first one goes on serving
    finally:
        kill(first)


def test_a_server_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, log = _serve(tmp_path, "--embedded-etcd-port", "0", "--query-port", str(port))
        try:
            assert proc.wait(START_S) == 2
        finally:
            kill(proc)
    lines = log.read_text().strip().splitlines()
    assert lines == [f"roadside: error: 127.0.0.1:{port} is in use (another central?); set "
                     "query_port (--query-port, 0 = any free port)"]  # no gRPC log line
    assert not (tmp_path / "data" / "etcd").exists()  # nothing was started
