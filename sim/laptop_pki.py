"""Simulated detectors beside a laptop central: their certificates from its site CA.

Issued once into the laptop's PKI directory (detector-ID.pem/.key) and reused while valid;
`roadside pki list` shows them like any other. central's modules load only here, when a
laptop central is there: the simulator also runs where only the agent is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from roadside.agent.laptop import usable
from roadside.common import laptop
from roadside.common.identity import Identity


def detector_pki(ids: Sequence[str]) -> Path | None:
    """The laptop's PKI directory holding a usable certificate for every id (issuing the
    missing ones), or None when no laptop CA is here."""
    pki = laptop.pki_dir()
    if not (pki / "ca.key").is_file():
        return None
    missing = [d for d in ids if not usable(pki / "ca.pem", pki / f"detector-{d}.pem")]
    if missing:
        from roadside.central.cli.pki import issue_files  # a laptop central is installed
        from roadside.central.config import load_config, local_etcd

        config = load_config(flags={"pki_dir": pki}, local=local_etcd())
        issue_files(config, [Identity("detector", d) for d in missing])
        print(f"issued {len(missing)} detector certificate{'s' * (len(missing) != 1)} from the "
              f"laptop central's site CA ({pki})", file=sys.stderr)
    return pki
