"""An agent beside a laptop central: its collector and a detector certificate, found or
issued through the laptop's site CA without manual steps (roadside.common.laptop).

Used when the settings name no TLS files and not `insecure`; production settings win.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.common import laptop
from roadside.common.tlsprobe import issued_by

ISSUE_TIMEOUT_S = 60.0


def local_settings() -> dict[str, Any]:
    """The lowest settings layer: the laptop central's collector, when one serves here."""
    collector = laptop.addresses().get("collector")
    return {"central": (collector,)} if collector else {}


def with_laptop_tls(config: AgentConfig, name: str | None = None) -> AgentConfig:
    """`config` with TLS files from the laptop's PKI: `name`'s certificate (default the
    detector's, issued when missing, expired or from another CA). Unchanged when TLS is
    configured, `insecure` is set, or no laptop CA is here."""
    if config.insecure or config.tls_ca_file is not None or config.tls_cert_file is not None:
        return config
    pki = laptop.pki_dir()
    if not (pki / "ca.key").is_file():
        return config
    if name is None:
        name = f"detector-{config.detector_id}"
        found = laptop.tls_triple(name)
        if found is None or not usable(found[0], found[1]):
            _issue(config.detector_id)
            print(f"issued a detector certificate for {config.detector_id} from the laptop "
                  f"central's site CA: {pki / name}.pem", file=sys.stderr)
    found = laptop.tls_triple(name)
    if found is None:
        return config
    ca, cert, key = found
    return dataclasses.replace(config, tls_ca_file=ca, tls_cert_file=cert, tls_key_file=key)


def usable(ca: Path, cert: Path) -> bool:
    """Issued by this CA and not expired."""
    try:
        mine = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return False
    return issued_by(mine.public_bytes(serialization.Encoding.DER), ca) and \
        mine.not_valid_after_utc > datetime.now(UTC)


def _issue(detector_id: str) -> None:
    """`roadside pki issue detector ID` against the laptop central (central's own command:
    the agent package does not import central)."""
    done = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "pki", "issue", "detector", detector_id],
        capture_output=True, text=True, timeout=ISSUE_TIMEOUT_S, check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AgentError(f"no TLS settings, and issuing a detector certificate from the laptop "
                         f"central's CA failed: {why}")
