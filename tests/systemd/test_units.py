"""The unit files pass `systemd-analyze verify` and score well in `systemd-analyze security`.

verify insists that ExecStart's binary exists. The units name /opt/roadside/bin/roadside,
which the installer creates; here each unit is verified as a copy whose ExecStart points at
this checkout's `roadside` command, exactly what the installer does for another prefix.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roadside.central.config import load_config
from roadside.central.traveltime.config import TravelTimeConfig

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
INSTALLED_BIN = "/opt/roadside/bin/roadside"
ANALYZE_TIMEOUT_S = 60
# Unit name -> highest acceptable exposure (0 = locked down, 10 = fully exposed).
EXPOSURE_LIMITS = {
    "roadside-agent.service": 3.0,
    "roadside-central.service": 2.0,
    "roadside-worker@.service": 2.0,
}

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def roadside_bin() -> str:
    path = Path(sys.executable).with_name("roadside")
    if not path.exists():
        pytest.fail(f"{path} missing: install the project (make install)")
    return str(path)


def unit_copy(name: str, tmp_path: Path) -> Path:
    """A copy of unit `name` runnable here; templates get the instance name `1`."""
    text = (UNITS_DIR / name).read_text().replace(INSTALLED_BIN, roadside_bin())
    target = tmp_path / name.replace("@.", "@1.")
    target.write_text(text)
    return target


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True,
        timeout=ANALYZE_TIMEOUT_S, check=False,
    )


def directives(name: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit, values in order (keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in (UNITS_DIR / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("name", sorted(EXPOSURE_LIMITS))
def test_unit_verifies(name: str, tmp_path: Path) -> None:
    result = analyze("verify", str(unit_copy(name, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warnings either


@pytest.mark.parametrize("name", sorted(EXPOSURE_LIMITS))
def test_unit_exposure(name: str, tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", str(unit_copy(name, tmp_path)))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"{name}: exposure {exposure}")
    assert exposure <= EXPOSURE_LIMITS[name], result.stdout


@pytest.mark.skipif(Path(INSTALLED_BIN).exists(), reason="roadside is installed in /opt here")
def test_verify_catches_a_missing_binary() -> None:
    """Why the copies above exist: verify refuses a unit whose ExecStart is missing."""
    result = analyze("verify", str(UNITS_DIR / "roadside-agent.service"))
    assert result.returncode != 0
    assert INSTALLED_BIN in result.stderr


def test_agent_unit_is_a_notify_service_with_a_watchdog() -> None:
    unit = directives("roadside-agent.service")
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"] and unit["WatchdogSec"][0] != "0"
    assert unit["Restart"] == ["on-failure"]
    assert unit["StateDirectory"] == ["roadside"]
    assert unit["User"] == ["roadside"]


def test_agent_unit_grants_only_what_the_agent_needs() -> None:
    unit = directives("roadside-agent.service")
    assert set(unit["CapabilityBoundingSet"][0].split()) == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert unit["AmbientCapabilities"] == unit["CapabilityBoundingSet"]
    assert unit["DevicePolicy"] == ["closed"]
    assert sorted(unit["DeviceAllow"]) == ["char-ttyACM rw", "char-ttyUSB rw"]
    # the site secret comes in as a credential; the file itself can stay root-only
    assert unit["LoadCredential"] == ["site.secret:/etc/roadside/site.secret"]
    assert "ROADSIDE_SECRET_FILE=%d/site.secret" in unit["Environment"]


@pytest.mark.parametrize("name", ["roadside-central.service", "roadside-worker@.service"])
def test_central_units_have_no_privileges(name: str) -> None:
    unit = directives(name)
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["DynamicUser"] == ["yes"]
    assert unit["PrivateDevices"] == ["yes"]


def test_workers_get_central_s_etcd_certificate_as_credentials() -> None:
    """The worker (a DynamicUser with no state of its own) reads the etcd client files of
    central.yaml through systemd credentials, named in settings the worker reads."""
    central = load_config(UNITS_DIR / "central.example.yaml", env={})
    loaded = dict(value.split(":", 1) for value in directives(
        "roadside-worker@.service")["LoadCredential"])
    env = dict(value.split("=", 1) for value in directives(
        "roadside-worker@.service")["Environment"])
    fields = {f.name for f in dataclasses.fields(TravelTimeConfig)}
    for setting in ("etcd_ca_file", "etcd_cert_file", "etcd_key_file"):
        assert setting in fields
        credential = env[f"ROADSIDE_{setting.upper()}"].removeprefix("%d/")
        assert Path(loaded[credential]) == getattr(central, setting)
