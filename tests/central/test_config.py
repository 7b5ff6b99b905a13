"""Central's settings in layers, and the serve command's one-line errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.config import load_config
from roadside.central.errors import CentralError


def test_layers_defaults_yaml_env_flags(tmp_path: Path) -> None:
    assert load_config(env={}).collector_port == 9000
    file = tmp_path / "roadside.yaml"
    file.write_text(
        "central:\n  namespace: site1\n  retention_days: 3\n  query_port: 8100\n"
        "  etcd_endpoints: [a:2379, b:2379]\n"
    )
    config = load_config(
        file,
        env={"ROADSIDE_RETENTION_DAYS": "5", "ROADSIDE_HEALTH_PORT": "5100"},
        flags={"health_port": "5200", "namespace": None},
    )
    assert config.namespace == "site1"  # YAML; the flag was not given
    assert config.retention_days == 5.0  # env beats YAML
    assert config.health_port == 5200  # flag beats env
    assert config.query_port == 8100
    assert config.etcd_endpoints == ("a:2379", "b:2379")
    assert config.collector_port == 9000  # default


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "central", "serve", *args],
        capture_output=True, text=True, timeout=60,
    )


def test_bad_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for args, named in (
        (["--collector-port", "ninety"], "--collector-port"),
        (["--namespace", "Bad/NS"], "namespace"),
        (["--retention-days", "0"], "retention_days"),
        (["--config", str(tmp_path / "missing.yaml")], "missing.yaml"),
        (["--http-map-style", "https://tiles.example/style.json", "--http-map-tiles",
          "https://tiles.example/{z}/{x}/{y}.png"], "http_map_style"),
        (["--http-map-style", "tiles.example/style.json"], "http_map_style"),
    ):
        result = _serve(*args)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_several_etcd_endpoints_on_the_command_line() -> None:
    from roadside.central.cli.serve import config_from_args
    from roadside.common.main import build_parser

    args = build_parser().parse_args([
        "central", "serve", "--etcd-endpoints", "a:2379", "b:2379",
        "--etcd-endpoints", "c:2379,d:2379", "--retention-days", "2.5",
    ])
    config = config_from_args(args)
    assert config.etcd_endpoints == ("a:2379", "b:2379", "c:2379", "d:2379")
    assert config.retention_days == 2.5


def test_port_in_use_is_a_clear_error(
    start_test_central: Callable[..., RunningCentral]
) -> None:
    first = start_test_central()
    in_use = rf"127.0.0.1:{first.query_port} is in use .*set query_port"
    with pytest.raises(CentralError, match=in_use):
        start_test_central(query_port=first.query_port)
