"""A broken YAML settings or network file: one line naming the file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadside.common.main import main


@pytest.mark.parametrize(("argv", "text", "where"), [
    (["agent", "run", "--config"], "central: [1\n", "line 2, column 1"),
    (["query", "events", "--config"], "a: 1\n  b: 2\n", "line 2, column 4"),
    (["central", "serve", "--config"], "\t a: 1\n", "line 1, column 1"),
    (["sim", "traffic", "--truth", "t.json", "--network"], "detectors: {\n", "line 2, column 1"),
])
def test_a_yaml_error_is_one_line_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    argv: list[str], text: str, where: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code = main([*argv, str(bad)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(f"roadside: error: {bad}: not valid YAML: {where}: ")
    assert captured.err.count("\n") == 1
    assert not (tmp_path / "t.json").exists()
