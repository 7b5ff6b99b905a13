"""`roadside agent init` and `roadside agent register`: set up a detector box.

init checks everything first, enrolls the box when given a token (its key is made here
and never leaves it; agent/enroll.py), then installs the site secret (mode 0600), writes the
identity and TLS files into the agent's YAML config (keeping the hardware settings the
installer put there) and registers the detector at central. When central cannot be
reached the secret and config stay written and `roadside agent register` finishes the job
later.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import yaml

from roadside.agent import enroll, privacy
from roadside.agent.channel import open_channel
from roadside.agent.config import DEFAULT_CONFIG_PATH, AgentConfig
from roadside.agent.errors import AgentError
from roadside.agent.laptop import local_settings, with_laptop_tls
from roadside.agent.model import RadioKind
from roadside.agent.sources.serial_profile import serial_radio
from roadside.common import output
from roadside.common.config_layers import ConfigError, load, read_yaml
from roadside.common.files import write_atomic
from roadside.common.ids import DETECTOR_ID_PATTERN, valid_detector_id, valid_endpoint
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2

log = logging.getLogger(__name__)

REGISTER_TIMEOUT_S = 10.0  # one RegisterDetector call, per endpoint
IDENTITY_KEYS = ("detector_id", "name", "latitude", "longitude", "central", "tls_ca_file",
                 "tls_cert_file", "tls_key_file")
ENROLL_PORT = 9001  # central's enroll port, unless --enroll-endpoint says otherwise
HEADER = "# roadside agent settings; identity written by `roadside agent init`\n"


class InitError(AgentError):
    """`agent init` or `agent register` cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Identity:
    detector_id: str
    name: str
    latitude: float
    longitude: float
    central: tuple[str, ...]  # empty: keep the config's endpoints


# --- checks -------------------------------------------------------------------------


def check_identity(identity: Identity) -> None:
    """Raise InitError naming the flag of the first bad value."""
    if not valid_detector_id(identity.detector_id):
        raise InitError(
            f"--detector-id: {identity.detector_id!r} is not a detector id "
            f"({DETECTOR_ID_PATTERN}: lower case, digits, '-' and '_', no '/')"
        )
    if not identity.name.strip():
        raise InitError("--name: must not be empty")
    if not -90.0 <= identity.latitude <= 90.0:
        raise InitError(f"--lat: {identity.latitude} is not a latitude (-90 to 90)")
    if not -180.0 <= identity.longitude <= 180.0:
        raise InitError(f"--lon: {identity.longitude} is not a longitude (-180 to 180)")
    for endpoint in identity.central:
        if not valid_endpoint(endpoint):
            raise InitError(f"--central: {endpoint!r} is not HOST:PORT")


def read_config(path: Path) -> dict[str, Any]:
    """The settings in an existing config file ({} when there is none)."""
    if not path.exists():
        return {}
    try:
        return read_yaml(path, None)
    except ConfigError as exc:
        raise InitError(f"--config {exc}") from exc


def check_writable(path: Path, flag: str, hint: str = "") -> None:
    """InitError naming the flag when `path` could not be written (checked before anything
    is written, so init changes all or nothing)."""
    if path.is_dir():
        raise InitError(f"{flag} {path}: is a directory; give a file path")
    target = path.parent  # a file is replaced through a new one beside it
    while not target.exists():  # a directory still to be made: its first existing parent
        target = target.parent
    if not os.access(target, os.W_OK):
        raise InitError(f"{flag} {path}: not writable by user {getpass.getuser()}{hint}")


def read_given_secret(path: Path) -> bytes:
    """A site secret copied from another detector (any mode: it may come off a USB stick)."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise InitError(f"--secret-file {path}: cannot read: {exc.strerror}") from exc
    if len(secret) < privacy.MIN_SECRET_BYTES:
        raise InitError(
            f"--secret-file {path}: too short ({len(secret)} bytes, need "
            f"{privacy.MIN_SECRET_BYTES}); copy the site's secret file unchanged"
        )
    return secret


def existing_secret(path: Path) -> bytes | None:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InitError(f"site secret {path}: cannot read: {exc.strerror}") from exc


TOP_KEY = re.compile(r"([A-Za-z_][\w-]*)\s*:")


# --- writing ------------------------------------------------------------------------


def config_text(identity: Identity, existing: Mapping[str, Any], existing_text: str,
                tls: Mapping[str, Path] | None = None, secret_file: Path | None = None,
                state_dir: Path | None = None) -> str:
    """The new config: the identity first, then the other settings already there.

    The old text is kept as it was (comments too), less the lines of the settings written
    here; should that not leave the same other settings, they are written out again.
    """
    ident: dict[str, Any] = {
        "detector_id": identity.detector_id,
        "name": identity.name,
        "latitude": identity.latitude,
        "longitude": identity.longitude,
    }
    if identity.central:
        ident["central"] = list(identity.central)
    elif "central" in existing:
        ident["central"] = existing["central"]
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        value = tls.get(key) if tls else existing.get(key)
        if value:
            ident[key] = str(value)
    written: tuple[str, ...] = IDENTITY_KEYS
    if secret_file is not None:
        ident["secret_file"] = str(secret_file)
        written += ("secret_file",)
    if state_dir is not None:
        ident["state_dir"] = str(state_dir)
        written += ("state_dir",)
    head = HEADER + yaml.safe_dump(ident, sort_keys=False, allow_unicode=True)
    others = {k: v for k, v in existing.items() if k not in written}
    rest = _without(existing_text.removeprefix(HEADER), written)
    if (yaml.safe_load(rest) or {}) != others:
        rest = yaml.safe_dump(others, sort_keys=False, allow_unicode=True) if others else ""
    return head + ("\n" + rest if rest.strip() else "")


def _without(text: str, keys: tuple[str, ...]) -> str:
    """`text` less the top-level settings `keys` (their lines and indented or list lines)."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        top = TOP_KEY.match(line)
        if top is not None:
            dropping = top.group(1) in keys
        elif not line.startswith((" ", "\t", "-")):
            dropping = False  # a comment or blank line at the left margin
        if not dropping:
            kept.append(line)
    return "".join(kept)


# --- registration -------------------------------------------------------------------


def radios(config: AgentConfig) -> list[RadioKind]:
    """The radios this detector listens with, from its enabled sources."""
    kinds = {RadioKind.BLE} if config.ble_enabled else set()
    if config.wifi_enabled:
        kinds.add(RadioKind.WIFI)
    if config.bt_classic_enabled:
        kinds.add(RadioKind.BT_CLASSIC)
    if config.serial_enabled:  # the board's profile says what it hears
        kinds.add(serial_radio(config.serial_profile))
    return sorted(kinds, key=lambda k: k.value)


# central's answers that another endpoint would give too: said at once, not retried
REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
           grpc.StatusCode.UNAUTHENTICATED)


async def register(config: AgentConfig) -> str:
    """RegisterDetector at the first central endpoint that answers; returns that endpoint."""
    config = with_laptop_tls(config)  # beside a laptop central: a certificate from its CA
    request = collector_pb2.RegisterDetectorRequest(
        detector=types_pb2.Detector(
            id=config.detector_id, name=config.name, latitude=config.latitude,
            longitude=config.longitude,
            radios=[f"RADIO_KIND_{k.name}" for k in radios(config)],
        )
    )
    failures = []
    for endpoint in config.central:
        channel = open_channel(endpoint, config)
        try:
            stub = collector_pb2_grpc.CollectorServiceStub(channel)  # type: ignore[no-untyped-call]
            await stub.RegisterDetector(request, timeout=REGISTER_TIMEOUT_S)
            return endpoint
        except grpc.aio.AioRpcError as exc:
            if exc.code() in REFUSED:
                detail = exc.details()
                raise InitError(f"central {endpoint} refused the detector: {detail}") from exc
            failures.append(f"{endpoint} ({exc.code().name.lower()})")
        finally:
            await channel.close()
    raise InitError(f"central unreachable: {', '.join(failures) or 'no endpoint configured'}")


def register_from(config_path: Path) -> tuple[AgentConfig, str]:
    config = load(AgentConfig, config_path, local=local_settings())
    if not config.detector_id:
        raise InitError(f"{config_path}: no detector_id; run `roadside agent init` first")
    return config, asyncio.run(register(config))


# --- commands -----------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    identity = Identity(
        args.detector_id, args.name, args.lat, args.lon, tuple(args.central or ()),
    )
    check_identity(identity)
    path: Path = args.config
    if not path.parent.exists():
        raise InitError(f"--config: the directory {path.parent} does not exist (the installer "
                        "makes /etc/roadside; or give a path in an existing directory)")
    existing = read_config(path)
    if "detector_id" in existing and not args.force:
        raise InitError(
            f"{path} already belongs to detector {existing['detector_id']!r}; "
            "not overwriting it (use --force)"
        )
    # Where the secret goes and how central is reached: the flag, else the config's (or env).
    base = load(AgentConfig, path if path.exists() else None, local=local_settings())
    secret_path: Path = args.secret_path or base.secret_file
    given = read_given_secret(args.secret_file) if args.secret_file else None
    current = existing_secret(secret_path)
    if given is None and not args.generate_secret and current is None:
        raise InitError(
            f"no site secret at {secret_path}: give --secret-file FILE (copied from a "
            "detector of this site) or --generate-secret (the site's first detector)"
        )
    replacing = args.generate_secret or (given is not None and given != current)
    if current is not None and replacing and not args.force:
        raise InitError(
            f"a different site secret is already at {secret_path}; replacing it changes every "
            "device id this detector makes: use --force if that is what you want"
        )

    check_writable(path, "--config")
    if replacing or current is None:
        check_writable(secret_path, "--secret-path", "; give --secret-path FILE in a directory "
                       "you can write (e.g. ~/.config/roadside/site.secret), or run as root")
    tls: dict[str, Path] | None = None
    if args.enroll:
        tls = _enroll(args, identity, path.parent)

    # Everything checked: now write, the secret first, and take it back if the config fails.
    old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    # a secret away from the default (flag or ROADSIDE_SECRET_FILE) is recorded, so `agent
    # run` finds it too
    recorded = None
    if secret_path not in (AgentConfig().secret_file, Path(existing.get("secret_file") or "")):
        recorded = secret_path
    text = config_text(identity, existing, old_text, tls, recorded, args.state_dir)
    new_secret = None
    if args.generate_secret:
        new_secret = privacy.new_secret()
    elif given is not None and given != current:
        new_secret = given
    if new_secret is not None:
        _write(secret_path, new_secret + b"\n", 0o600, "--secret-path")
    try:
        _write(path, text.encode("utf-8"), 0o644, "--config")
    except InitError:
        if new_secret is not None:  # all or nothing: the secret as it was
            if current is None:
                secret_path.unlink(missing_ok=True)
            else:
                write_atomic(secret_path, current + b"\n", 0o600)
        raise
    if new_secret is not None:
        made = "generated a new" if args.generate_secret else "installed the"
        print(f"{made} site secret: {secret_path} (mode 0600)")
    print(f"wrote {path} for detector {identity.detector_id}")
    print(
        f"every detector of this site needs this same secret: copy {secret_path} to the "
        f"next box over ssh (scp -p {secret_path} root@NEXT-BOX:/root/site.secret) and run "
        "`roadside agent init ... --secret-file /root/site.secret` there; "
        "never mail it or commit it"
    )
    if args.no_register:
        print("not registered (--no-register): run `roadside agent register` later")
        return 0
    try:
        _, endpoint = register_from(path)
    except InitError as exc:
        raise InitError(
            f"{exc}; config and secret are written: run `roadside agent register "
            f"--config {path}` when central is reachable"
        ) from exc
    print(f"registered {identity.detector_id} at central {endpoint}")
    return 0


def _write(path: Path, data: bytes, mode: int, flag: str) -> None:
    if not path.parent.exists():
        print(f"making the directory {path.parent}")
    try:
        write_atomic(path, data, mode)
    except OSError as exc:
        raise InitError(f"{flag} {path}: cannot write: {exc.strerror}") from exc


def _enroll(args: argparse.Namespace, identity: Identity, where: Path) -> dict[str, Path]:
    central = identity.central[0] if identity.central else "127.0.0.1:9000"
    endpoint = args.enroll_endpoint or f"{central.rpartition(':')[0]}:{ENROLL_PORT}"
    files = enroll.enroll(args.enroll, endpoint, where / "tls")
    if files.detector_id != identity.detector_id:
        raise InitError(f"--detector-id {identity.detector_id!r}: the token was made for "
                        f"{files.detector_id!r} (roadside pki token --detector ...)")
    print(f"enrolled at {endpoint}: certificate for detector {files.detector_id} until "
          f"{files.not_after:%Y-%m-%d %H:%M} UTC in {files.cert_file.parent} (key 0600, "
          "made on this box)")
    return {"tls_ca_file": files.ca_file, "tls_cert_file": files.cert_file,
            "tls_key_file": files.key_file}


def run_register(args: argparse.Namespace) -> int:
    config, endpoint = register_from(args.config)
    print(f"registered {config.detector_id} at central {endpoint}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = sub.add_parser(
        "init", help="set up this box: config, site secret, registration at central",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Write the detector's identity into its config, install or generate the site\n"
            "secret (mode 0600; the same on every detector of a site) and register the\n"
            "detector at central."
        ),
        epilog=(
            "example (beside a laptop central):\n"
            "  roadside agent init --detector-id box-1 --name 'Box 1' --lat 52.51 \\\n"
            "      --lon 13.405 --config box-1.yaml --secret-path box-1.secret \\\n"
            "      --state-dir box-1 --generate-secret\n"
            "on a detector box:\n"
            "  roadside agent init --detector-id a1-north-km12 --name 'A1 km 12.4' \\\n"
            "      --lat 52.51234 --lon 13.40012 --central central.example.net:9000 \\\n"
            "      --enroll rst1.… --secret-file /root/site.secret"
        ),
    )
    init.add_argument("--detector-id", required=True,
                      help=f"this detector's id, {DETECTOR_ID_PATTERN}")
    init.add_argument("--name", required=True, help="a name people recognise")
    init.add_argument("--lat", type=float, required=True, help="latitude, decimal degrees")
    init.add_argument("--lon", type=float, required=True, help="longitude, decimal degrees")
    init.add_argument("--central", action="append", metavar="HOST:PORT",
                      help="central collector endpoint; repeat for failover "
                           "(default: keep the config's)")
    secret = init.add_mutually_exclusive_group()
    secret.add_argument("--secret-file", type=Path, metavar="FILE",
                        help="install this site secret (copied from another detector)")
    secret.add_argument("--generate-secret", action="store_true",
                        help="make a new site secret (the site's first detector only)")
    init.add_argument("--secret-path", type=Path, metavar="FILE",
                      help="where this box keeps the site secret (default: the config's "
                           "secret_file, /etc/roadside/site.secret); recorded in the config")
    init.add_argument("--state-dir", type=Path, metavar="DIR",
                      help="where this box keeps its buffer and status (default: the "
                           "config's state_dir, /var/lib/roadside); recorded in the config")
    init.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH,
                      help=f"the config file to write (default: {DEFAULT_CONFIG_PATH})")
    init.add_argument("--force", action="store_true",
                      help="overwrite an existing identity or a different site secret")
    init.add_argument("--no-register", action="store_true",
                      help="do not contact central now")
    init.add_argument("--enroll", metavar="TOKEN",
                      help="enroll with a one-time token from `roadside pki token`: the box "
                           "makes its key and gets its certificate from central")
    init.add_argument("--enroll-endpoint", metavar="HOST:PORT",
                      help=f"central's enroll port (default: the --central host, port "
                           f"{ENROLL_PORT})")
    init.set_defaults(func=run_init)

    reg = sub.add_parser(
        "register", help="register this detector at central (again)",
        description="Send this detector's id, name, position and radios to central.",
        epilog="example:\n  roadside agent register --config box-1.yaml\non a detector box:\n"
               "  roadside agent register --config /etc/roadside/agent.yaml",
        formatter_class=output.HelpFormatter,
    )
    reg.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH,
                     help=f"the agent's config (default: {DEFAULT_CONFIG_PATH})")
    reg.set_defaults(func=run_register)
