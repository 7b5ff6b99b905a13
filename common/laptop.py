"""What a laptop central makes and every other command on the same machine finds by itself.

`roadside central serve` without etcd endpoints keeps its embedded etcd and its site PKI in
DATA_DIR ($XDG_DATA_HOME/roadside/central, else ~/.local/share/roadside/central). Commands
given no TLS or etcd settings look there: the site CA, the operators' certificates, the
embedded etcd's client certificate. Settings given (a config file, ROADSIDE_*, flags) win.
"""

from __future__ import annotations

import os
from pathlib import Path


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
