"""`roadside agent replay` of files that hold no frame at all: exit 1 and one line saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadside.agent.privacy import generate_secret
from roadside.common.main import main


def test_replaying_no_capture_at_all_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    secret = tmp_path / "site.secret"
    generate_secret(secret)
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a capture\n")
    code = main(["agent", "replay", "--detector", "d1", "--secret-file", str(secret),
                 "--central", "127.0.0.1:1", "--insecure", "--fast", "--quiet", "--state-dir",
                 str(tmp_path / "state"), str(notes)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0] == "replayed 1 file as detector d1 -> 127.0.0.1:1"
    assert f"in {notes}: not_a_capture 1" in out
    assert err.splitlines()[-1] == ("roadside: error: nothing replayed: no frame could be "
                                    "read from the file (see frames skipped)")
