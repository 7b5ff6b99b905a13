"""`roadside sim traffic` into a real central: what the truth file says was heard is there."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from roadside.central.api.server import RunningCentral
from roadside.common.identity import Identity
from roadside.common.main import main
from roadside.sim.network import load_network
from tests.fixtures.sim import KEEP_ALL, StoredPasses, busy_start
from tests.fixtures.trust import ADMIN, AsOperator, Site


def sim_pki(site: Site, as_operator: AsOperator) -> list[str]:
    """Certificates for every detector of the default network, registration as an admin:
    the flags that make `sim traffic` call with them."""
    for d in load_network(None).detectors:
        site.files(Identity("detector", d.id))
    as_operator(ADMIN)
    return ["--pki-dir", str(site.pki_dir)]


def test_every_simulated_detection_is_at_central_as_a_pass_of_its_device_id(
    central: RunningCentral, tmp_path: Path, stored_passes: StoredPasses, site: Site,
    as_operator: AsOperator,
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({**KEEP_ALL, "backoff_initial_s": 0.05}))
    truth_file = tmp_path / "truth.json"
    code = main(["sim", "traffic", "--duration", "15m", "--start", busy_start(900),
                 "--seed", "11", "--quiet",
                 "--central", central.collector_addr, "--truth", str(truth_file),
                 "--config", str(config), "--secret-file", str(tmp_path / "site.secret"),
                 *sim_pki(site, as_operator)])
    assert code == 0
    truth = json.loads(truth_file.read_text())
    assert truth["trips"] and truth["detections"]

    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 2**63, 0])
    for d in truth["detections"]:
        e = expected[(d["detector"], d["device_id"])]
        e[0] += d["count"]
        e[1] = min(e[1], d["first_ns"])
        e[2] = max(e[2], d["last_ns"])
    found: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 2**63, 0])
    for det in truth_detectors(truth):
        for p in stored_passes(det):
            f = found[(det, p.device_id)]
            f[0] += p.count
            f[1] = min(f[1], p.first_ns)
            f[2] = max(f[2], p.last_ns)
    assert dict(found) == dict(expected)

    # a trip the truth calls matchable has one device id at central at both of its ends
    at_central = defaultdict(set)
    for det, device in found:
        at_central[det].add(device)
    ids_of = defaultdict(set)
    for d in truth["detections"]:
        ids_of[(d["vehicle"], d["detector"])].add(d["device_id"])
    matchable = [t for t in truth["trips"] if t["matchable"]]
    assert matchable
    for t in matchable:
        src_ids = ids_of[(t["vehicle"], t["src"])] & at_central[t["src"]]
        assert src_ids & ids_of[(t["vehicle"], t["dest"])] & at_central[t["dest"]]


def truth_detectors(truth: dict[str, object]) -> set[str]:
    return {d["detector"] for d in truth["detections"]}  # type: ignore[attr-defined, index]


def test_after_the_run_central_shows_each_agent_finished_with_its_last_upload(
    central: RunningCentral, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: Site,
    as_operator: AsOperator,
) -> None:
    code = main(["sim", "traffic", "--duration", "10m", "--start", busy_start(600),
                 "--seed", "12", "--quiet",
                 "--central", central.collector_addr, "--truth", str(tmp_path / "truth.json"),
                 "--secret-file", str(tmp_path / "site.secret"), *sim_pki(site, as_operator)])
    assert code == 0
    capsys.readouterr()
    assert main(["query", "status", "--format", "json", "--query-host", central.query_addr]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and len(rows) == len({r["detector_id"] for r in rows})
    for r in rows:  # not the status sent at start ("starting", "never")
        assert r["last_upload_ns"] > 0 and r["buffer_depth"] == 0, r
        assert r["sources"] and all(s["state"] == "finished" for s in r["sources"]), r
