"""What an operator trips over at the terminal: pipes, plurals, negative times, bad files."""

from __future__ import annotations

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
