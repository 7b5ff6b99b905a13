"""`roadside sim traffic` without central: the truth file and captures, the same for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadside.common.main import main

START = "2026-11-20T16:30:00Z"


def run(tmp: Path, name: str, seed: int, *extra: str) -> dict[str, object]:
    truth = tmp / f"{name}.json"
    code = main(["sim", "traffic", "--duration", "20m", "--start", START, "--seed", str(seed),
                 "--truth", str(truth), "--secret-file", str(tmp / "site.secret"), "--quiet",
                 *extra])
    assert code == 0
    data: dict[str, object] = json.loads(truth.read_text())
    return data


def test_the_same_seed_gives_the_same_truth_and_captures(tmp_path: Path) -> None:
    a = run(tmp_path, "a", 3, "--write-captures", str(tmp_path / "caps-a"))
    b = run(tmp_path, "b", 3, "--write-captures", str(tmp_path / "caps-b"))
    c = run(tmp_path, "c", 4)
    assert a == b and a != c
    files_a = sorted(p.name for p in (tmp_path / "caps-a").iterdir())
    assert files_a and files_a == sorted(p.name for p in (tmp_path / "caps-b").iterdir())
    for name in files_a:
        a_bytes, b_bytes = ((tmp_path / d / name).read_bytes() for d in ("caps-a", "caps-b"))
        assert a_bytes == b_bytes, name


def test_the_truth_holds_device_ids_never_raw_macs(tmp_path: Path) -> None:
    truth = run(tmp_path, "t", 5)
    detections = truth["detections"]
    assert isinstance(detections, list) and detections
    for d in detections:
        assert len(d["device_id"]) == 32
    text = (tmp_path / "t.json").read_text()
    assert "mac" not in text


@pytest.mark.parametrize(("args", "field"), [
    (["--duration", "2x"], "--duration"),
    (["--start", "yesterday-ish"], "--start"),
])
def test_bad_options_are_named_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], field: str) -> None:
    code = main(["sim", "traffic", "--truth", str(tmp_path / "t.json"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and field in err and "\n" not in err


def test_a_bad_network_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.yaml"
    net.write_text("name: x\ndetectors: []\n")
    code = main(["sim", "traffic", "--network", str(net), "--truth", str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert code == 2 and "detectors" in err and "net.yaml" in err


def test_a_truth_file_in_a_missing_directory_is_refused_before_simulating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "nowhere" / "t.json"
    code = main(["sim", "traffic", "--duration", "5m", "--truth", str(truth), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""  # nothing simulated, nothing written
    assert captured.err.strip() == f"roadside: error: --truth {truth}: no directory {truth.parent}"
    assert not truth.parent.exists()


def test_an_unwritable_truth_file_is_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "t.json"
    truth.mkdir()  # a directory where the file should go: the rename fails
    code = main(["sim", "traffic", "--duration", "5m", "--truth", str(truth), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"roadside: error: --truth {truth}: cannot write")
    assert "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]  # no t.json.tmp left
