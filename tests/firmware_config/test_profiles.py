"""Every profile and example config loads into AgentConfig; the monitor script behaves."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from roadside.agent.config import AgentConfig
from roadside.common.config_layers import load

# as installed: the package's data (the checkout's folder in an editable install)
FIRMWARE = Path(str(resources.files("roadside.firmware_config")))
pytestmark = pytest.mark.wheel
MONITOR = FIRMWARE / "monitor" / "roadside-monitor"
SCRIPT_TIMEOUT_S = 30
CONFIGS = sorted(
    [FIRMWARE / "agent.example.yaml", *(FIRMWARE / "profiles").glob("*.yaml")],
    key=lambda p: p.name,
)


def test_the_expected_profiles_exist() -> None:
    names = {p.name for p in (FIRMWARE / "profiles").glob("*.yaml")}
    assert {"rpi4.yaml", "rpi5.yaml", "pizero2w-esp32.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path: Path) -> None:
    config = load(AgentConfig, path, env={})
    # each one turns on at least one radio
    assert config.ble_enabled or config.wifi_enabled or config.serial_enabled


def test_profiles_match_their_hardware() -> None:
    rpi4 = load(AgentConfig, FIRMWARE / "profiles" / "rpi4.yaml", env={})
    assert rpi4.wifi_enabled and rpi4.wifi_interface == "wlan1mon" and not rpi4.serial_enabled
    zero = load(AgentConfig, FIRMWARE / "profiles" / "pizero2w-esp32.yaml", env={})
    assert zero.serial_enabled and not zero.wifi_enabled


def test_example_config_has_an_identity() -> None:
    config = load(AgentConfig, FIRMWARE / "agent.example.yaml", env={})
    assert config.detector_id and config.central


def monitor(*args: str, sysfs: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(MONITOR), *args], capture_output=True, text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSFS_NET": str(sysfs)},
        timeout=SCRIPT_TIMEOUT_S, check=False,
    )


def fake_interface(sysfs: Path, name: str, arphrd: int) -> None:
    (sysfs / name).mkdir(parents=True)
    (sysfs / name / "type").write_text(f"{arphrd}\n")


def test_monitor_status_reads_the_interface_type(tmp_path: Path) -> None:
    fake_interface(tmp_path, "wlan1mon", 803)  # ARPHRD_IEEE80211_RADIOTAP
    fake_interface(tmp_path, "wlan2mon", 1)  # ARPHRD_ETHER: a managed interface
    assert monitor("status", "wlan1", sysfs=tmp_path).returncode == 0
    result = monitor("status", "wlan2", sysfs=tmp_path)
    assert result.returncode == 1
    assert "not in monitor mode" in result.stderr


def test_monitor_up_without_the_adapter_says_so(tmp_path: Path) -> None:
    result = monitor("up", "wlan1", sysfs=tmp_path)
    assert result.returncode == 1
    assert "no such wireless interface" in result.stderr


def test_monitor_rejects_an_unknown_action(tmp_path: Path) -> None:
    result = monitor("sideways", "wlan1", sysfs=tmp_path)
    assert result.returncode == 2
    assert "usage" in result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_monitor_unit_verifies(tmp_path: Path) -> None:
    """verify needs ExecStart to exist: point it at the script in this checkout."""
    text = (FIRMWARE / "monitor" / "roadside-monitor@.service").read_text()
    text = text.replace("/opt/roadside/libexec/roadside-monitor", str(MONITOR))
    unit = tmp_path / "roadside-monitor@wlan1.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
        timeout=SCRIPT_TIMEOUT_S, check=False,
    )
    assert result.returncode == 0, result.stderr
