"""What an operator trips over at the terminal: pipes, plurals, negative times, bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roadside.common.humanize import plural
from roadside.common.main import main


def test_plurals() -> None:
    assert (plural(1, "event"), plural(2, "event"), plural(0, "file")) == \
        ("1 event", "2 events", "0 files")


def test_a_negative_relative_time_is_a_value_not_an_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["query", "events", "--since", "-5m", "--query-host", "127.0.0.1:1",
                 "--insecure", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert "expected one argument" not in err
    assert code == 2 and err.count("\n") == 1  # one line: central is not there


def test_a_port_out_of_range_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["query", "detectors", "--query-host", "127.0.0.1:99999"])
    err = capsys.readouterr().err
    assert code == 2 and "port 99999 is not a TCP port" in err and "unreachable" not in err


def test_a_binary_config_file_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "agent.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    code = main(["agent", "status", "--config", str(binary)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a YAML settings file" in err
    assert "Traceback" not in err and "UnicodeDecodeError" not in err


def test_one_settings_file_for_every_command(tmp_path: Path) -> None:
    """A file with only a client: section is no error for serve, nor central: for a worker."""
    from roadside.central.config import load_config
    from roadside.central.traveltime.config import TravelTimeConfig
    from roadside.common.config_layers import load

    client_only = tmp_path / "client.yaml"
    client_only.write_text("client:\n  query_host: central.example.net:8000\n")
    assert load_config(client_only, env={}).namespace == "tdc"
    central_only = tmp_path / "central.yaml"
    central_only.write_text("central:\n  namespace: city\n")
    assert load(TravelTimeConfig, central_only, env={}, section="worker").namespace == "tdc"


def test_replay_refuses_an_endpoint_without_a_port_and_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    capture = tmp_path / "x.pcap"
    capture.write_bytes(b"")
    code = main(["agent", "replay", "--detector", "d1", "--central", "nohost", "--fast",
                 "--secret-file", str(tmp_path / "s"), str(capture)])
    err = capsys.readouterr().err
    assert code == 2 and "'nohost' is not HOST:PORT" in err
    code = main(["agent", "replay", "--detector", "d1", "--fast", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is a directory" in err


def test_machine_formats_carry_machine_values() -> None:
    import io
    import json

    from roadside.common.output import Column, Writer

    cols = (Column("ok", "OK"), Column("age", "AGE", machine=False), Column("t_ns", "T"))
    for fmt, expect in (("csv", "ok,t_ns\ntrue,5\n"), ("json", '{"ok":true,"t_ns":5}\n')):
        out = io.StringIO()
        writer = Writer(cols, fmt, out)
        writer.write({"ok": True, "age": "6 min ago", "t_ns": 5})
        writer.close()
        assert out.getvalue() == expect
        if fmt == "json":
            assert json.loads(out.getvalue()) == {"ok": True, "t_ns": 5}
    table = io.StringIO()
    writer = Writer(cols, "table", table)
    writer.write({"ok": True, "age": "6 min ago", "t_ns": 5})
    writer.close()
    assert "6 min ago" in table.getvalue()  # tables stay human


def test_missing_directories_are_refused_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    nowhere = tmp_path / "nonexistent-dir"
    code = main(["agent", "init", "--detector-id", "d1", "--name", "D1", "--lat", "1",
                 "--lon", "1", "--generate-secret", "--no-register",
                 "--config", str(nowhere / "agent.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and not nowhere.exists()
    code = main(["query", "travel-times", "--from", "a", "--to", "b", "--since", "1h",
                 "--plot", str(nowhere / "x.png"), "--insecure", "--query-host", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and not nowhere.exists()


def test_an_agent_only_install_says_where_the_query_commands_are() -> None:
    """Without central's libraries (an agent-only install), `roadside query ...` names the
    extra instead of argparse's "unrecognized arguments"."""
    probe = ("import sys\n"
             "for name in ('etcd3', 'matplotlib'):\n"
             "    sys.modules[name] = None  # as if not installed\n"
             "from roadside.common.main import main\n"
             "sys.exit(main(['query', 'detectors', '--format', 'json']))\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=False)
    err = run.stderr.strip()
    assert run.returncode == 2 and "\n" not in err
    assert "come with the central extra" in err and "pip install 'roadside[central]'" in err
    assert "unrecognized arguments" not in err
