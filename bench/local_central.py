"""For benchmarks: etcd (a child process) and central (in this process) on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from roadside.central.api.server import RunningCentral, start_central
from roadside.central.config import CentralConfig
from roadside.central.store.etcd_process import EtcdProcess


@contextlib.contextmanager
def local_central(tmp: Path, **overrides: Any) -> Iterator[RunningCentral]:
    """A fresh etcd under `tmp` and central on free ports; `overrides` are CentralConfig
    fields. Both are stopped on exit."""
    etcd = EtcdProcess(tmp / "etcd")
    etcd.start()
    try:
        settings: dict[str, Any] = {
            "host": "127.0.0.1", "collector_port": 0, "query_port": 0, "health_port": 0,
            "etcd_endpoints": (etcd.endpoint,), "namespace": "bench",
            "data_dir": tmp / "central", "insecure": True, "http": False, "http_port": 0,
            "metrics": False, "metrics_port": 0, **overrides,
        }
        central = start_central(CentralConfig(**settings))
        try:
            yield central
        finally:
            central.stop(0)
    finally:
        etcd.stop()
