"""The foundation a user meets first: the command, its help, and the configuration layers."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from roadside.agent.model import TimestampChoice
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess, describe_etcd_binary
from roadside.common import config_layers
from roadside.common.config_layers import ConfigError
from roadside.common.main import main


@dataclasses.dataclass(frozen=True)
class Sample:
    port: int = 9000
    endpoints: tuple[str, ...] = ()
    ratio: float = 0.5
    verbose: bool = False
    stamp: TimestampChoice = TimestampChoice.PEAK
    name: str | None = None


def test_layers_apply_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("port: 9100\nendpoints: [a:1, b:2]\nratio: 0.25\n")
    env = {"ROADSIDE_PORT": "9200", "ROADSIDE_VERBOSE": "yes", "ROADSIDE_STAMP": "first"}
    got = config_layers.load(Sample, cfg, env=env, flags={"port": 9300, "ratio": None})
    assert got == Sample(
        port=9300, endpoints=("a:1", "b:2"), ratio=0.25, verbose=True, stamp=TimestampChoice.FIRST
    )
    assert config_layers.load(Sample, None, env={}).port == 9000
    assert config_layers.load(Sample, None, env={"ROADSIDE_ENDPOINTS": "x:1,y:2"}).endpoints == (
        "x:1",
        "y:2",
    )


@pytest.mark.parametrize(
    ("yaml_text", "env", "needle"),
    [
        ("port: many\n", {}, "port"),
        ("colour: red\n", {}, "colour"),
        ("", {"ROADSIDE_VERBOSE": "perhaps"}, "ROADSIDE_VERBOSE"),
        ("", {"ROADSIDE_STAMP": "middle"}, "ROADSIDE_STAMP"),
        ("port: [1\n", {}, "YAML"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, yaml_text: str, env: dict[str, str],
                                   needle: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=needle):
        config_layers.load(Sample, cfg, env=env)


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("agent", "central", "query", "links", "sim"):
        assert command in out


def test_etcd_comes_back_on_the_same_endpoint(private_etcd: EtcdProcess) -> None:
    client = connect([private_etcd.endpoint])
    client.put("/k", "v")
    private_etcd.stop()
    private_etcd.start()
    assert client.get("/k")[0] == b"v"
    client.close()


def test_the_etcd_in_use_is_named_with_its_version(private_etcd: EtcdProcess) -> None:
    described = describe_etcd_binary(private_etcd.binary)
    version = subprocess.run([private_etcd.binary, "--version"], capture_output=True,
                             text=True, check=True).stdout.split("\n")[0].split(":")[1].strip()
    assert described == f"etcd {version} at {private_etcd.binary}"
    assert version.startswith("3.")
