"""A path a command cannot create or write is one line naming it, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadside.agent.privacy import generate_secret
from roadside.common.main import main


@pytest.mark.parametrize(("argv", "bad"), [
    (["agent", "replay", "--detector", "d1", "--central", "127.0.0.1:1", "--fast", "--quiet",
      "--secret-file", "site.secret", "--state-dir", "a-file/state", "--insecure", "rec.jsonl"],
     "a-file/state"),
    (["sim", "traffic", "--duration", "5m", "--quiet", "--truth", "t.json",
      "--write-captures", "a-file/caps"], "a-file/caps"),
])
def test_a_path_under_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], bad: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    generate_secret(tmp_path / "site.secret")
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "rec.jsonl").write_text(
        '{"format":"roadside-hashed-sightings","version":1,"detector_id":"d1"}\n')
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"roadside: error: {bad}: Not a directory\n"
