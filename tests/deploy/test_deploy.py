"""`make test-deploy`: the images built from a local Debian base, the compose stack (three etcd
members, two centrals, two workers) fed by simulated agents through both replicas, travel
times checked against the simulator's truth; then the Kubernetes manifests (the podman
overlay) played with `podman kube play` beside it, answering the same travel times.

Needs root, podman, runc, podman-compose, debootstrap and kubectl (`.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.sim import demo_report
from roadside.sim.network import load_network

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROJECT = "roadside"
CENTRAL1_QUERY, CENTRAL1_HEALTH = "127.0.0.1:18000", "127.0.0.1:18001"
CENTRAL2_QUERY = "127.0.0.1:18010"
KUBE_QUERY, KUBE_HEALTH = "127.0.0.1:18020", "127.0.0.1:18021"
ACCURACY_PCT = 10.0  # median error of a link's window medians against the truth
STEP_TIMEOUT_S = 900


def step(what: str, *cmd: str, timeout: float = STEP_TIMEOUT_S, check: bool = True,
         ) -> subprocess.CompletedProcess[str]:
    """Run one step, saying what it does (the whole run takes minutes)."""
    print(f"\n== {what}: {' '.join(cmd)}", flush=True)
    done = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True, timeout=timeout,
                          check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                    f"{done.stderr[-3000:]}")
    return done


def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return step(f"compose {args[0]}", "podman-compose", "-p", PROJECT, "-f",
                str(DEPLOY / "compose.yaml"), *args, check=check)


def serving(addr: str) -> bool:
    try:
        with grpc.insecure_channel(addr) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def wait_serving(addr: str, what: str, within_s: float = 120.0) -> None:
    end = time.monotonic() + within_s
    while not serving(addr):
        if time.monotonic() > end:
            pytest.fail(f"{what} on {addr} did not report SERVING within {within_s:.0f} s")
        time.sleep(1.0)  # poll interval of a deadline-bounded wait


def mountpoint(volume: str) -> Path:
    out = step("where the PKI volume is", "podman", "volume", "inspect", volume,
               "--format", "{{.Mountpoint}}")
    return Path(out.stdout.strip())


def clean() -> None:
    """Nothing of an earlier run left: pods, containers, volumes, the network."""
    kube = DEPLOY / "kubernetes" / "overlays" / "podman"
    rendered = subprocess.run(["kubectl", "kustomize", str(kube)], capture_output=True,
                              text=True, check=False)
    if rendered.returncode == 0:
        subprocess.run(["podman", "kube", "down", "-"], input=rendered.stdout, text=True,
                       capture_output=True, check=False)
    compose("down", "-v", check=False)
    played = subprocess.run(["podman", "volume", "ls", "-q", "--filter", "name=roadside-config"],
                            capture_output=True, text=True, check=False).stdout.split()
    for volume in ("roadside-pki", f"{PROJECT}_etcd1", f"{PROJECT}_etcd2", f"{PROJECT}_etcd3",
                   *played):  # the ConfigMap's volumes, which `kube down` leaves
        subprocess.run(["podman", "volume", "rm", "-f", volume], capture_output=True,
                       check=False)
    subprocess.run(["podman", "network", "rm", "-f", "roadside"], capture_output=True,
                   check=False)


@pytest.fixture
def podman_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    missing = [t for t in ("podman", "runc", "podman-compose", "debootstrap", "kubectl")
               if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        pytest.fail(f"make test-deploy needs root and {', '.join(missing) or 'nothing more'}"
                    " (.ci/run installs them)")
    monkeypatch.setenv("CONTAINERS_CONF", str(DEPLOY / "containers.conf"))
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # the agents' container user writes the truth here
    monkeypatch.setenv("ROADSIDE_DEPLOY_OUT", str(out))
    clean()
    yield out
    for name in ("central1", "worker1", "etcd1"):
        logs = subprocess.run(["podman", "logs", "--tail", "15", f"{PROJECT}_{name}_1"],
                              capture_output=True, text=True, check=False)
        print(f"\n-- last lines of {name}:\n{logs.stdout}{logs.stderr}", flush=True)
    clean()


def busy_half_hour() -> str:
    """The latest 07:30 UTC (the example corridor's morning rush; its clock is UTC) whose
    half hour has ended: enough vehicles for every window whenever the test runs."""
    now = datetime.now(UTC)
    start = now.replace(hour=7, minute=30, second=0, microsecond=0)
    if start + timedelta(minutes=30) > now:
        start -= timedelta(days=1)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_stack_in_containers_computes_travel_times(
    podman_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    step("build the images", str(DEPLOY / "build-images.sh"))
    compose("run", "--rm", "--no-deps", "-T", "pki", "files")
    compose("up", "-d", "etcd1", "etcd2", "etcd3")
    compose("run", "--rm", "--no-deps", "-T", "pki", "issue")
    compose("up", "-d", "central1", "central2", "worker1", "worker2")
    wait_serving(CENTRAL1_HEALTH, "central1")
    monkeypatch.setenv("ROADSIDE_SIM_START", busy_half_hour())
    agents = compose("run", "--rm", "--no-deps", "-T", "agents")
    assert "registered 4 detectors and 3 links" in agents.stdout + agents.stderr

    pki = mountpoint("roadside-pki")
    monkeypatch.setenv("ROADSIDE_TLS_CA_FILE", str(pki / "ca.pem"))
    monkeypatch.setenv("ROADSIDE_TLS_CERT_FILE", str(pki / "operators" / "operator-desk.pem"))
    monkeypatch.setenv("ROADSIDE_TLS_KEY_FILE", str(pki / "operators" / "operator-desk.key"))
    truth = json.loads((podman_env / "truth.json").read_text())
    network = load_network()
    # asked of the replica the agents did not try first: the replicas share etcd
    report = demo_report.Report(CENTRAL2_QUERY, tmp_path, network, truth)
    report.travel_times(timeout_s=180)
    assert len(report.plots) == len(list(report.targets())), report.plots  # a chart each
    for link, figures in report.links.items():
        assert figures["published"] >= 3, f"{link}: {figures}"
        assert figures["median_abs_error_pct"] is not None, f"{link}: {figures}"
        assert figures["median_abs_error_pct"] <= ACCURACY_PCT, f"{link}: {figures}"

    # the Kubernetes manifests, played by podman on the compose network and etcd
    rendered = step("render the podman overlay", "kubectl", "kustomize",
                    str(DEPLOY / "kubernetes" / "overlays" / "podman"))
    manifests = tmp_path / "kube.yaml"
    manifests.write_text(rendered.stdout)
    step("podman kube play", "podman", "kube", "play", "--network", "roadside",
         str(manifests))
    wait_serving(KUBE_HEALTH, "central played from the manifests")
    kube = demo_report.Report(KUBE_QUERY, tmp_path, network, truth)
    for _key, query, _plot in report.targets():
        assert kube.windows(query) == report.windows(query)


def test_the_city_overlay_renders_with_the_secure_settings_of_the_base() -> None:
    city = step("render the city overlay", "kubectl", "kustomize",
                str(DEPLOY / "kubernetes" / "overlays" / "city")).stdout
    docs = [d for d in yaml.safe_load_all(city) if d]
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert [k for k in kinds if not k.startswith("ConfigMap/")] == [
        "Deployment/central", "Deployment/worker", "Service/central", "Service/etcd",
        "StatefulSet/etcd"]
    assert all(d["metadata"]["namespace"] == "roadside" for d in docs)
    by_name = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}
    assert by_name["Service/central"]["spec"]["type"] == "LoadBalancer"
    for name in ("Deployment/central", "Deployment/worker"):
        pod = by_name[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["image"].startswith("registry.example.org/roadside/")
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
