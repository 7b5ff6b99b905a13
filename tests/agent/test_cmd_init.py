"""`roadside agent init` / `register` against a real central on port 0 (real etcd)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from roadside.agent.config import AgentConfig
from roadside.central.api.server import RunningCentral
from roadside.common.config_layers import load
from roadside.common.main import main
from tests.fixtures.ops import FIRMWARE

IDENTITY = ["--detector-id", "a1-km12", "--name", "A1 km 12.4",
            "--lat", "52.51234", "--lon", "13.40012"]


def init(config: Path, *extra: str) -> int:
    return main(["agent", "init", *IDENTITY, "--config", str(config), *extra])


def secret_path(config: Path) -> Path:
    return load(AgentConfig, config, env={}).secret_file


def test_init_writes_config_secret_and_registers(
    central: RunningCentral, installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile_text = (FIRMWARE / "profiles" / "rpi4.yaml").read_text()
    code = init(installed_config, "--central", central.collector_addr, "--generate-secret")
    out = capsys.readouterr().out
    assert code == 0, out

    config = load(AgentConfig, installed_config, env={})
    assert (config.detector_id, config.name) == ("a1-km12", "A1 km 12.4")
    assert (config.latitude, config.longitude) == (52.51234, 13.40012)
    assert config.central == (central.collector_addr,)
    assert config.wifi_interface == "wlan1mon"  # the profile's settings are kept
    assert profile_text in installed_config.read_text()  # comments too

    secret = secret_path(installed_config)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_bytes().strip()) >= 32
    assert "scp" in out and str(secret) in out  # how to copy it to the next box

    record = central.store.get_detector("a1-km12")
    assert record is not None
    assert (record.name, record.latitude, record.longitude) == ("A1 km 12.4", 52.51234, 13.40012)
    assert set(record.radios) == {"ble", "wifi"}  # the rpi4 profile's sources


def test_given_secret_is_installed_private(installed_config: Path, tmp_path: Path) -> None:
    given = tmp_path / "usb-stick.secret"
    given.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    given.chmod(0o644)
    assert init(installed_config, "--secret-file", str(given), "--no-register") == 0
    secret = secret_path(installed_config)
    assert secret.read_bytes() == given.read_bytes()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_refuses_to_overwrite_an_initialised_config(
    installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(installed_config, "--generate-secret", "--no-register") == 0
    before = installed_config.read_text()
    code = main(["agent", "init", "--detector-id", "other", "--name", "x", "--lat", "1",
                 "--lon", "1", "--config", str(installed_config), "--no-register"])
    err = capsys.readouterr().err
    assert code == 2
    assert "already belongs to detector 'a1-km12'" in err and "--force" in err
    assert installed_config.read_text() == before

    assert main(["agent", "init", "--detector-id", "other", "--name", "x", "--lat", "1",
                 "--lon", "1", "--config", str(installed_config), "--no-register",
                 "--force"]) == 0
    config = load(AgentConfig, installed_config, env={})
    assert config.detector_id == "other" and config.wifi_interface == "wlan1mon"


def test_refuses_to_replace_a_different_site_secret(
    installed_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = secret_path(installed_config)
    secret.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o600)
    original = secret.read_bytes()
    config_before = installed_config.read_text()
    other = tmp_path / "other.secret"
    other.write_bytes(b"ffffffffffffffffffffffffffffffff\n")

    for flag in (["--secret-file", str(other)], ["--generate-secret"]):
        assert init(installed_config, *flag, "--no-register") == 2
        assert "a different site secret is already at" in capsys.readouterr().err
        assert secret.read_bytes() == original
        assert installed_config.read_text() == config_before

    same = tmp_path / "same.secret"
    same.write_bytes(original)
    assert init(installed_config, "--secret-file", str(same), "--no-register") == 0
    assert init(installed_config, "--secret-file", str(other), "--no-register", "--force") == 0
    assert secret.read_bytes() == other.read_bytes()


def test_second_detector_keeps_the_installed_secret(installed_config: Path) -> None:
    secret = secret_path(installed_config)
    secret.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o600)
    assert init(installed_config, "--no-register") == 0
    assert secret.read_bytes() == b"0123456789abcdef0123456789abcdef\n"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--detector-id", "A1/km12"], "--detector-id"),
        (["--detector-id", ".."], "--detector-id"),
        (["--lat", "91"], "--lat"),
        (["--lon", "-200"], "--lon"),
        (["--name", " "], "--name"),
        (["--central", "central.example.net"], "--central"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    installed_config: Path, flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = dict(zip(IDENTITY[::2], IDENTITY[1::2], strict=True))
    args.update(zip(flags[::2], flags[1::2], strict=True))
    before = installed_config.read_text()
    argv = ["agent", "init", *[x for kv in args.items() for x in kv],
            "--config", str(installed_config), "--generate-secret", "--no-register"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"roadside: error: {named}") and "\n" not in err
    assert installed_config.read_text() == before
    assert not secret_path(installed_config).exists()


def test_no_secret_at_all_says_how_to_get_one(
    installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(installed_config, "--no-register") == 2
    err = capsys.readouterr().err
    assert "--secret-file" in err and "--generate-secret" in err
    assert yaml.safe_load(installed_config.read_text()).get("detector_id") is None


def test_central_unreachable_keeps_config_and_secret(
    installed_config: Path, dead_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = init(installed_config, "--central", dead_endpoint, "--generate-secret")
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "central unreachable" in err and dead_endpoint in err
    assert "roadside agent register" in err and "\n" not in err
    assert load(AgentConfig, installed_config, env={}).detector_id == "a1-km12"
    assert secret_path(installed_config).exists()


def test_register_later(
    central: RunningCentral, installed_config: Path, dead_endpoint: str
) -> None:
    assert init(installed_config, "--central", dead_endpoint, "--generate-secret") == 2
    assert central.store.get_detector("a1-km12") is None
    # central moved / came up: point the config at it and register
    text = installed_config.read_text().replace(dead_endpoint, central.collector_addr)
    installed_config.write_text(text)
    assert main(["agent", "register", "--config", str(installed_config)]) == 0
    assert central.store.get_detector("a1-km12") is not None


def test_secret_put_elsewhere_is_recorded_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "keys" / "site.secret"
    elsewhere.parent.mkdir()
    config = tmp_path / "agent.yaml"
    monkeypatch.setenv("ROADSIDE_SECRET_FILE", str(elsewhere))
    assert init(config, "--generate-secret", "--no-register") == 0
    assert elsewhere.exists()
    # a later `agent run --config` without the variable finds the same secret
    assert secret_path(config) == elsewhere


def test_a_config_that_cannot_be_written_leaves_no_secret_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "etc"
    blocker.write_text("a file where the config's directory should be\n")
    secret = tmp_path / "site.secret"
    config = blocker / "agent.yaml"
    code = init(config, "--generate-secret", "--secret-path", str(secret), "--no-register")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"roadside: error: --config {config}: cannot write")  # the real path
    assert not secret.exists()  # all or nothing
    # the rerun with a writable config just works: no "different site secret" refusal
    good = tmp_path / "agent.yaml"
    assert init(good, "--generate-secret", "--secret-path", str(secret), "--no-register") == 0
    assert secret.exists() and secret_path(good) == secret  # recorded for `agent run`


def test_a_config_that_is_not_yaml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.yaml"
    for content, said in ((b"central: [127.0.0.1:9000\n", "line 2, column 1"),
                          (b"\x89PNG\r\n\x1a\n\x00\xff", "not a YAML settings file")):
        config.write_bytes(content)
        assert init(config, "--generate-secret", "--no-register") == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"roadside: error: --config {config}: ") and "\n" not in err
        assert said in err and "Traceback" not in err
        assert config.read_bytes() == content
