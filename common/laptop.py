"""What a laptop central makes and every other command on the same machine finds by itself.

`roadside central serve` without etcd endpoints keeps its embedded etcd and its site PKI in
DATA_DIR ($XDG_DATA_HOME/roadside/central, else ~/.local/share/roadside/central). Commands
given no TLS or etcd settings look there: the site CA, the operators' certificates, the
embedded etcd's client certificate. Settings given (a config file, ROADSIDE_*, flags) win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from roadside.common.files import private_dir, write_atomic


def data_dir() -> Path:
    """The laptop central's data directory (works without root)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "roadside" / "central"


def pki_dir() -> Path:
    """The laptop central's site PKI: ca.pem, ca.key, operator-*.pem, etcd-client.pem, ..."""
    return data_dir() / "pki"


def tls_triple(name: str, directory: Path | None = None) -> tuple[Path, Path, Path] | None:
    """(ca.pem, NAME.pem, NAME.key) in the laptop's PKI when all three are there."""
    d = directory or pki_dir()
    files = (d / "ca.pem", d / f"{name}.pem", d / f"{name}.key")
    return files if all(f.is_file() for f in files) else None


ADDRESSES = "central.json"  # in data_dir(), while a central serves from it


def publish(addresses: dict[str, str]) -> Path:
    """Say where this central listens (collector, query, http, etcd) for the commands run
    beside it; withdrawn when it stops. Only central's own process writes it."""
    path = private_dir(data_dir()) / ADDRESSES
    write_atomic(path, json.dumps({**addresses, "pid": os.getpid()}).encode(), 0o600)
    return path


def withdraw() -> None:
    """Remove what publish() wrote, if it is this process's."""
    if addresses(check_pid=False).get("pid") == os.getpid():
        (data_dir() / ADDRESSES).unlink(missing_ok=True)


def addresses(check_pid: bool = True) -> dict[str, Any]:
    """Where the laptop central listens, {} when none serves from data_dir() (no file, an
    unreadable one, or its process is gone)."""
    try:
        found = json.loads((data_dir() / ADDRESSES).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    if check_pid and not _alive(found.get("pid")):
        return {}
    return found


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
