"""A real Prometheus scrapes central, a travel-time worker and an agent; its query API has
the series they serve. The operations' alert rules pass `promtool check rules`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.store.etcd_process import EtcdProcess, free_port
from tests.fixtures.agent import FakeSource, MakeConfig, running_agent, sighting
from tests.fixtures.polling import eventually

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "systemd" / "roadside-alerts.rules.yml"

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="needs Debian's prometheus (prometheus, promtool)")


def test_the_alert_rules_pass_promtool() -> None:
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def _query(base: str, expr: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(base: str, expr: str) -> float | None:
    result = _query(base, expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


async def test_prometheus_scrapes_central_a_worker_and_an_agent(
    start_test_central: Callable[..., RunningCentral], agent_config: MakeConfig,
    etcd_server: EtcdProcess, namespace: str, tmp_path: Path,
) -> None:
    central = start_test_central(metrics=True)
    assert central._metrics_server is not None
    worker_port, agent_port, prom_port = free_port(), free_port(), free_port()
    worker = _spawn([sys.executable, "-m", "roadside.common.main", "central", "worker",
                     "--etcd-endpoints", etcd_server.endpoint, "--namespace", namespace,
                     "--metrics-host", "127.0.0.1", "--metrics-port", str(worker_port)])
    config = tmp_path / "prometheus.yml"
    jobs = {"roadside-central": central._metrics_server.port, "roadside-worker": worker_port,
            "roadside-agent": agent_port}
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      f"rule_files: [{RULES}]\nscrape_configs:\n" + "".join(
                          f"  - job_name: {job}\n    static_configs: "
                          f"[{{targets: ['127.0.0.1:{port}']}}]\n"
                          for job, port in jobs.items()))
    prometheus = _spawn(["prometheus", f"--config.file={config}",
                         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}"])
    base = f"http://127.0.0.1:{prom_port}"
    source = FakeSource()
    agent = agent_config(central.collector_addr, detector_id="metrics-box", metrics=True,
                         metrics_port=agent_port, status_interval_s=1.0)
    try:
        async with running_agent(agent, source):
            now = time.time_ns()
            for i in range(3):
                source.inject(sighting(bytes([0, 0x1b, 0x63, 0, 0, i]), now + i, source="fake"))

            def scraped() -> bool:
                try:
                    up = {r["metric"]["job"]: r["value"][1]  # type: ignore[index]
                          for r in _query(base, "up")}
                    sightings = _value(base, 'roadside_agent_sightings_total{source="fake"}')
                    return (up == dict.fromkeys(jobs, "1") and sightings == 3.0
                            and _value(base, "roadside_agent_buffer_depth") is not None)
                except OSError:  # Prometheus still starting
                    return False

            await eventually(scraped, 60, "Prometheus to scrape all three", in_thread=True)
        status = _query(base, 'roadside_central_calls_total{method=~".*ReportStatus"}')
        assert status and status[0]["metric"]["code"] == "OK"  # type: ignore[index]
        assert _value(base, "roadside_worker_windows_published_total") == 0.0
        assert _value(base, "roadside_central_serving") == 1.0
    finally:
        for proc in (prometheus, worker):
            proc.terminate()
            proc.wait(30)
