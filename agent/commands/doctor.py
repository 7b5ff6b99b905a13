"""`roadside agent doctor`: check a detector box, one line per check, with the fix.

    OK   secret: /etc/roadside/site.secret present, mode 0600
    FAIL central: 10.0.0.5:9000 unreachable (unavailable) -- fix: ...

Exit status 1 when any check FAILs. Checks only what the config enables (no Bluetooth
check when ble_enabled is false, and so on). Nothing is changed on the box, and no device
is opened: opening a serial port can reset the board on it.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.agent import privacy, status
from roadside.agent.channel import ChannelError, credentials, open_channel
from roadside.agent.config import DEFAULT_CONFIG_PATH, AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.laptop import local_settings, with_laptop_tls
from roadside.common import output
from roadside.common.config_layers import load

DBUS_TIMEOUT_S = 5.0  # connect to the system bus and ask BlueZ for its objects
HEALTH_TIMEOUT_S = 5.0  # one grpc.health.v1 Check per central endpoint
SYSFS_NET = Path("/sys/class/net")
PROC_STATUS = Path("/proc/self/status")
ARPHRD_IEEE80211_RADIOTAP = 803  # /sys/class/net/IFACE/type of a monitor interface
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
MIN_FREE_BYTES = 64 * 1024 * 1024  # below this the buffer cannot do its job


class Level(enum.Enum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Result:
    check: str
    level: Level
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<4} {self.check}: {self.message}"
        return f"{text} -- fix: {self.fix}" if self.fix else text


@dataclass(frozen=True, slots=True)
class Environment:
    """Where the doctor looks; tests point these at their own files."""

    sysfs_net: Path = SYSFS_NET
    proc_status: Path = PROC_STATUS


# --- Bluetooth -------------------------------------------------------------------

_BLUEZ_CONF = "firmware_config/bluez/main.conf"


class BluezMissing(AgentError):
    """org.bluez does not answer on the system bus."""



async def check_bluetooth(config: AgentConfig, env: Environment) -> Result:
    name = "bluetooth"
    if not config.ble_enabled:
        return Result(name, Level.OK, "not enabled (ble_enabled: false)")
    try:
        async with asyncio.timeout(DBUS_TIMEOUT_S):
            objects = await _bluez_objects()
    except TimeoutError:
        return Result(name, Level.FAIL, "no answer from the D-Bus system bus or BlueZ",
                      "systemctl restart dbus bluetooth")
    except (OSError, ValueError) as exc:  # no bus socket, refused, bad address
        return Result(name, Level.FAIL, f"D-Bus system bus unreachable ({exc})",
                      "systemctl start dbus")
    except BluezMissing as exc:
        return Result(name, Level.FAIL, f"BlueZ is not on the system bus ({exc})",
                      "apt install bluez && systemctl enable --now bluetooth")
    path = f"/org/bluez/{config.ble_adapter}"
    adapter = objects.get(path, {})
    if "org.bluez.Adapter1" not in adapter:
        present = sorted(p.rsplit("/", 1)[-1] for p, i in objects.items()
                         if "org.bluez.Adapter1" in i)
        return Result(
            name, Level.FAIL,
            f"adapter {config.ble_adapter} not found (BlueZ has: {', '.join(present) or 'none'})",
            "plug in / unblock the adapter (rfkill unblock bluetooth) or set ble_adapter",
        )
    props = adapter["org.bluez.Adapter1"]
    powered = bool(_value(props.get("Powered")))
    if not powered:
        return Result(name, Level.WARN, f"adapter {config.ble_adapter} is powered off",
                      f"bluetoothctl power on; AutoEnable=true ({_BLUEZ_CONF})")
    if config.ble_passive and "org.bluez.AdvertisementMonitorManager1" not in adapter:
        return Result(
            name, Level.WARN,
            f"adapter {config.ble_adapter} present, but BlueZ offers no passive scanning",
            f"Experimental = true in /etc/bluetooth/main.conf ({_BLUEZ_CONF}) or "
            "ble_passive: false",
        )
    address = _value(props.get("Address")) or "?"
    return Result(name, Level.OK, f"adapter {config.ble_adapter} ({address}) present, powered")


def _value(variant: Any) -> Any:
    return getattr(variant, "value", variant)


async def _bluez_objects() -> dict[str, dict[str, dict[str, Any]]]:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(Message(
            destination="org.bluez", path="/",
            interface="org.freedesktop.DBus.ObjectManager", member="GetManagedObjects",
        ))
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        raise BluezMissing(reply.error_name if reply is not None else "no reply")
    objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
    return objects


# --- WiFi, capabilities, serial ----------------------------------------------------


def check_monitor(config: AgentConfig, env: Environment) -> Result:
    name = "monitor"
    iface = config.wifi_interface
    if not config.wifi_enabled:
        return Result(name, Level.OK, "not enabled (wifi_enabled: false)")
    base = iface.removesuffix("mon") or "wlan1"
    fix = f"systemctl enable --now roadside-monitor@{base} (firmware_config/monitor/)"
    try:
        kind = int((env.sysfs_net / iface / "type").read_text().strip())
    except FileNotFoundError:
        return Result(name, Level.FAIL, f"interface {iface} does not exist", fix)
    except (OSError, ValueError) as exc:
        return Result(name, Level.FAIL, f"interface {iface}: cannot read its type ({exc})", fix)
    if kind != ARPHRD_IEEE80211_RADIOTAP:
        return Result(name, Level.FAIL,
                      f"interface {iface} is not in monitor mode (type {kind}, want 803)", fix)
    return Result(name, Level.OK, f"{iface} in monitor mode")


def effective_capabilities(env: Environment) -> int:
    for line in env.proc_status.read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise ValueError(f"no CapEff line in {env.proc_status}")


def check_capabilities(config: AgentConfig, env: Environment) -> Result:
    name = "capabilities"
    if not config.wifi_enabled:
        return Result(name, Level.OK, "none needed (wifi_enabled: false)")
    try:
        caps = effective_capabilities(env)
    except (OSError, ValueError) as exc:
        return Result(name, Level.WARN, f"cannot read capabilities ({exc})")
    missing = [cap for cap, bit in (("CAP_NET_RAW", CAP_NET_RAW), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
               if not caps >> bit & 1]
    if missing:
        return Result(
            name, Level.FAIL, f"this process lacks {' and '.join(missing)} (capture, iw)",
            "run as root, or as roadside-agent.service "
            "(AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN)",
        )
    return Result(name, Level.OK, "CAP_NET_RAW and CAP_NET_ADMIN effective")


def check_serial(config: AgentConfig, env: Environment) -> Result:
    name = "serial"
    port = config.serial_port
    if not config.serial_enabled:
        return Result(name, Level.OK, "not enabled (serial_enabled: false)")
    try:
        mode = os.stat(port).st_mode
    except FileNotFoundError:
        return Result(name, Level.FAIL, f"{port} does not exist",
                      "plug in the sniffer board; see ls /dev/serial/by-id/ and set serial_port")
    except OSError as exc:
        return Result(name, Level.FAIL, f"{port}: {exc.strerror}")
    if not stat.S_ISCHR(mode):
        return Result(name, Level.FAIL, f"{port} is not a character device", "set serial_port")
    if not os.access(port, os.R_OK | os.W_OK):
        return Result(name, Level.FAIL, f"{port} is not readable and writable by this user",
                      "usermod -a -G dialout roadside (the installer does this)")
    return Result(name, Level.OK, f"{port} present and readable")


# --- secret, clock, disk -----------------------------------------------------------


def check_secret(config: AgentConfig, env: Environment) -> Result:
    keys = Path(config.state_dir) / privacy.KEYS_FILE
    seed_there = Path(config.secret_file).exists()
    if keys.exists():
        if keys.stat().st_mode & 0o077:
            return Result("secret", Level.FAIL, f"{keys} is readable by group or others",
                          f"chmod 600 {keys}")
        if seed_there:
            return Result("secret", Level.WARN, f"epoch keys in {keys}, and the site secret "
                          f"{config.secret_file} is still on this box (a stolen box would "
                          "give away every epoch)", f"remove {config.secret_file}")
        return Result("secret", Level.OK, f"epoch keys in {keys} (forward-secure), no site "
                      "secret on the box")
    try:
        privacy.load_secret(config.secret_file)
    except privacy.PrivacyError as exc:
        message, _, fix = str(exc).partition("; ")
        return Result("secret", Level.FAIL, message, fix.removeprefix("fix: "))
    return Result("secret", Level.OK, f"{config.secret_file} present and private (the first "
                  "start makes the epoch keys from it; then remove it)")


def check_clock(config: AgentConfig, env: Environment) -> Result:
    sync = status.clock_sync()
    if sync is status.ClockSync.SYNCED:
        return Result("clock", Level.OK, "synchronised")
    if sync is status.ClockSync.UNSYNCED:
        return Result("clock", Level.FAIL,
                      "not synchronised: travel times between detectors would be wrong",
                      "timedatectl set-ntp true (systemd-timesyncd or chrony)")
    return Result("clock", Level.WARN, "cannot tell whether the clock is synchronised",
                  "install systemd-timesyncd or chrony")


def check_disk(config: AgentConfig, env: Environment) -> Result:
    where = config.state_dir
    if not where.exists():
        parent = next((p for p in where.parents if p.exists()), Path("/"))
        free = status.disk_free(parent)
        note = f"{where} does not exist yet (systemd's StateDirectory makes it); "
    else:
        free = status.disk_free(where)
        note = ""
    text = f"{note}{free / 2**20:.0f} MiB free"
    if free < MIN_FREE_BYTES:
        return Result("disk", Level.FAIL, text, "free space or move state_dir to a larger disk")
    if free < config.buffer_max_bytes:
        return Result("disk", Level.WARN,
                      f"{text}, less than buffer_max_bytes ({config.buffer_max_bytes >> 20} MiB)",
                      "lower buffer_max_bytes or free space")
    return Result("disk", Level.OK, text)


# --- central -----------------------------------------------------------------------


async def check_central(config: AgentConfig, env: Environment) -> Result:
    name = "central"
    fix = ("check the network and firewall to central's collector port, or the `central` "
           "setting (roadside agent init --central HOST:PORT)")
    problems = []
    try:
        credentials(config)
    except ChannelError as exc:
        return Result(name, Level.FAIL, str(exc),
                      "roadside agent init --enroll TOKEN (the token from `roadside pki token`)")
    for endpoint in config.central:
        channel = open_channel(endpoint, config)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            problems.append(f"{endpoint} unreachable ({exc.code().name.lower()})")
            continue
        finally:
            await channel.close()
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            others = f"; {'; '.join(problems)}" if problems else ""
            level = Level.WARN if problems else Level.OK
            return Result(name, level, f"{endpoint} reachable and serving{others}")
        problems.append(f"{endpoint} answers but is not serving (its etcd is down?)")
        fix = "check central: systemctl status roadside-central; roadside query status"
    return Result(name, Level.FAIL, "; ".join(problems) or "no endpoint configured", fix)


# --- running -----------------------------------------------------------------------

Check = Callable[[AgentConfig, Environment], Result | Awaitable[Result]]
CHECKS: dict[str, Check] = {
    "bluetooth": check_bluetooth,
    "monitor": check_monitor,
    "capabilities": check_capabilities,
    "serial": check_serial,
    "secret": check_secret,
    "clock": check_clock,
    "disk": check_disk,
    "central": check_central,
}


async def run_checks(
    config: AgentConfig, names: list[str], env: Environment | None = None,
) -> list[Result]:
    env = env or Environment()
    results = []
    for name in names:
        outcome = CHECKS[name](config, env)
        if not isinstance(outcome, Result):
            outcome = await outcome
        results.append(outcome)
    return results


def run_doctor(args: argparse.Namespace) -> int:
    config = with_laptop_tls(load(AgentConfig, args.config, local=local_settings()))
    names = args.check or list(CHECKS)
    results = asyncio.run(run_checks(config, names))
    for result in results:
        print(result.line(), flush=True)
    return 1 if any(r.level is Level.FAIL for r in results) else 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "doctor", help="check this box: radios, capabilities, secret, clock, disk, central",
        description=(
            "Check what the agent needs, one line per check (OK, WARN or FAIL) with the "
            "fix when it fails. Exit status 1 when any check fails. Changes nothing."
        ),
        epilog="example:\n  roadside agent doctor --config box-1.yaml --check central "
               "--check secret\non a detector box:\n  roadside agent doctor",
        formatter_class=output.HelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH,
                        help=f"the agent's config (default: {DEFAULT_CONFIG_PATH})")
    parser.add_argument("--check", action="append", choices=list(CHECKS), metavar="NAME",
                        help="run only this check (repeatable; default: all): "
                             + ", ".join(CHECKS))
    parser.set_defaults(func=run_doctor)

