"""`roadside agent doctor`: each check against the real thing, or a file laid out like it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from roadside.agent.commands.doctor import Environment, Level, Result, run_checks
from roadside.agent.config import AgentConfig
from roadside.central.api.server import RunningCentral
from roadside.common.config_layers import load
from roadside.common.main import main
from tests.fixtures.bluez import BluezMock


def doctor(config: Path, *checks: str) -> int:
    argv = ["agent", "doctor", "--config", str(config)]
    for check in checks:
        argv += ["--check", check]
    return main(argv)


def one_check(name: str, env: Environment | None = None, **settings: object) -> Result:
    config = AgentConfig(**settings)  # type: ignore[arg-type]
    [result] = asyncio.run(run_checks(config, [name], env))
    return result


def set_central(config: Path, endpoint: str) -> None:
    config.write_text(config.read_text() + f"central: [{endpoint}]\n")


def private_secret(config: Path) -> Path:
    path = load(AgentConfig, config, env={}).secret_file
    path.write_text("0123456789abcdef0123456789abcdef\n")
    path.chmod(0o600)
    return path


# --- central and secret, through the command ---------------------------------------


def test_healthy_central_and_private_secret_pass(
    central: RunningCentral, installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_central(installed_config, central.collector_addr)
    private_secret(installed_config)
    assert doctor(installed_config, "central", "secret") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"OK   central: {central.collector_addr} reachable and serving"
    assert lines[1].startswith("OK   secret: ")


def test_dead_central_fails_with_the_fix(
    installed_config: Path, dead_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    set_central(installed_config, dead_endpoint)
    assert doctor(installed_config, "central") == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"FAIL central: {dead_endpoint} unreachable")
    assert "-- fix: " in line and "--central HOST:PORT" in line


def test_failover_endpoint_serving_is_a_warning(
    central: RunningCentral, installed_config: Path, dead_endpoint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed_config.write_text(
        installed_config.read_text() + f"central: [{dead_endpoint}, {central.collector_addr}]\n"
    )
    assert doctor(installed_config, "central") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"WARN central: {central.collector_addr} reachable and serving")
    assert dead_endpoint in line


def test_readable_secret_fails_naming_chmod(
    installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = private_secret(installed_config)
    secret.chmod(0o644)
    assert doctor(installed_config, "secret") == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("FAIL secret: ") and f"-- fix: chmod 600 {secret}" in line


def test_missing_secret_points_at_init(installed_config: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor(installed_config, "secret") == 1
    assert "roadside agent init" in capsys.readouterr().out


def test_every_check_prints_one_line(
    installed_config: Path, dead_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    set_central(installed_config, dead_endpoint)
    assert doctor(installed_config) == 1  # the central at least fails
    lines = capsys.readouterr().out.splitlines()
    names = [line[5:].split(":", 1)[0] for line in lines]
    assert names == ["bluetooth", "monitor", "capabilities", "serial", "secret", "clock",
                     "disk", "central"]
    for line in lines:
        assert line[:4] in ("OK  ", "WARN", "FAIL")
        if line.startswith("FAIL"):
            assert " -- fix: " in line


# --- Bluetooth over D-Bus ----------------------------------------------------------


@pytest.fixture
def adapter(bluez: BluezMock) -> str:
    """BlueZ (python-dbusmock, agent-sources' fixture) with adapter hci0."""
    asyncio.run(bluez.add_adapter("hci0"))
    return "hci0"


def test_bluez_adapter_present(adapter: str) -> None:
    result = one_check("bluetooth", ble_adapter=adapter, ble_passive=False)
    assert result.level is Level.OK, result.line()
    assert f"adapter {adapter}" in result.message


def test_bluez_adapter_missing(adapter: str) -> None:
    result = one_check("bluetooth", ble_adapter="hci7", ble_passive=False)
    assert result.level is Level.FAIL
    assert "hci7 not found (BlueZ has: hci0)" in result.message
    assert "ble_adapter" in result.fix


def test_bluez_without_adapters(bluez: BluezMock) -> None:
    result = one_check("bluetooth", ble_passive=False)
    assert result.level is Level.FAIL
    assert "hci0 not found (BlueZ has: none)" in result.message


def test_passive_scanning_needs_bluez_experimental(adapter: str) -> None:
    # the bluez5 mock, like BlueZ without Experimental, has no AdvertisementMonitorManager1
    result = one_check("bluetooth", ble_adapter=adapter, ble_passive=True)
    assert result.level is Level.WARN
    assert "Experimental = true" in result.fix


def test_bus_without_bluez(system_bus: str) -> None:
    result = one_check("bluetooth")
    assert result.level is Level.FAIL
    assert "BlueZ is not on the system bus" in result.message
    assert "apt install bluez" in result.fix


def test_no_system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    result = one_check("bluetooth")
    assert result.level is Level.FAIL
    assert "system bus unreachable" in result.message and "dbus" in result.fix


# --- monitor interface, capabilities, serial, disk ------------------------------------


def sysfs(tmp_path: Path, iface: str, arphrd: int) -> Environment:
    (tmp_path / "net" / iface).mkdir(parents=True)
    (tmp_path / "net" / iface / "type").write_text(f"{arphrd}\n")
    return Environment(sysfs_net=tmp_path / "net")


def test_monitor_interface_in_monitor_mode(tmp_path: Path) -> None:
    result = one_check("monitor", sysfs(tmp_path, "wlan1mon", 803), wifi_enabled=True)
    assert result.level is Level.OK


def test_monitor_interface_in_managed_mode(tmp_path: Path) -> None:
    result = one_check("monitor", sysfs(tmp_path, "wlan1mon", 1), wifi_enabled=True)
    assert result.level is Level.FAIL and "not in monitor mode" in result.message
    assert "roadside-monitor@wlan1" in result.fix


def test_monitor_interface_missing(tmp_path: Path) -> None:
    result = one_check("monitor", sysfs(tmp_path, "wlan0", 1), wifi_enabled=True)
    assert result.level is Level.FAIL and "does not exist" in result.message


def proc_status(tmp_path: Path, cap_eff: int) -> Environment:
    path = tmp_path / "status"
    path.write_text(f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{cap_eff:016x}\n")
    return Environment(proc_status=path)


def test_capabilities_missing(tmp_path: Path) -> None:
    result = one_check("capabilities", proc_status(tmp_path, 0), wifi_enabled=True)
    assert result.level is Level.FAIL
    assert "CAP_NET_RAW and CAP_NET_ADMIN" in result.message
    assert "AmbientCapabilities" in result.fix


def test_capabilities_present(tmp_path: Path) -> None:
    env = proc_status(tmp_path, (1 << 12) | (1 << 13))  # CAP_NET_ADMIN, CAP_NET_RAW
    assert one_check("capabilities", env, wifi_enabled=True).level is Level.OK


def test_capabilities_one_missing(tmp_path: Path) -> None:
    result = one_check("capabilities", proc_status(tmp_path, 1 << 13), wifi_enabled=True)
    assert result.level is Level.FAIL
    assert "lacks CAP_NET_ADMIN (" in result.message


@pytest.fixture
def pty_port() -> Iterator[str]:
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_serial_port_present(pty_port: str) -> None:
    result = one_check("serial", serial_enabled=True, serial_port=pty_port)
    assert result.level is Level.OK, result.line()


def test_serial_port_missing(tmp_path: Path) -> None:
    result = one_check("serial", serial_enabled=True, serial_port=str(tmp_path / "ttyUSB9"))
    assert result.level is Level.FAIL and "/dev/serial/by-id" in result.fix


def test_serial_port_not_a_device(tmp_path: Path) -> None:
    plain = tmp_path / "ttyUSB0"
    plain.write_text("")
    result = one_check("serial", serial_enabled=True, serial_port=str(plain))
    assert result.level is Level.FAIL and "not a character device" in result.message


def test_disk_smaller_than_the_buffer_warns(tmp_path: Path) -> None:
    ok = one_check("disk", state_dir=tmp_path, buffer_max_bytes=1)
    assert ok.level is Level.OK and "MiB free" in ok.message
    huge = one_check("disk", state_dir=tmp_path, buffer_max_bytes=1 << 60)
    assert huge.level is Level.WARN and "buffer_max_bytes" in huge.fix


@pytest.mark.parametrize("name", ["bluetooth", "monitor", "serial", "capabilities"])
def test_disabled_sources_are_not_checked(name: str, tmp_path: Path) -> None:
    env = Environment(sysfs_net=tmp_path / "none", proc_status=tmp_path / "none")
    result = one_check(name, env, ble_enabled=False, wifi_enabled=False, serial_enabled=False)
    assert result.level is Level.OK
    assert "_enabled: false" in result.message


async def test_doctor_wants_the_epoch_keys_and_no_site_secret_on_the_box(
    agent_config: object, tmp_path: Path,
) -> None:
    from roadside.agent.commands.doctor import check_secret
    from tests.fixtures.agent import FakeSource, running_agent

    config = agent_config()  # type: ignore[operator]
    env = None  # the secret check reads no environment
    async with running_agent(config, FakeSource()):  # its first start makes the keys
        pass
    warned = check_secret(config, env)  # type: ignore[arg-type]
    assert warned.level is Level.WARN and "still on this box" in warned.message
    os.remove(config.secret_file)
    ok = check_secret(config, env)  # type: ignore[arg-type]
    assert ok.level is Level.OK and "forward-secure" in ok.message
