"""`roadside sim load` through a real mTLS central: every detector uploads as itself, every
pass it reports is stored, and the report gives the figures a capacity plan needs."""

from __future__ import annotations

import etcd3
import pytest

from roadside.central.api.server import RunningCentral
from roadside.common.identity import Identity
from roadside.common.main import main
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site


def test_load_of_simulated_detectors_is_stored_and_reported(
    central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, capsys: pytest.CaptureFixture[str],
) -> None:
    for i in range(5):
        site.files(Identity("detector", f"load-{i:04d}"))
    code = main(["sim", "load", "--central", central.collector_addr, "--pki-dir",
                 str(site.pki_dir), "--detectors", "5", "--duration", "15m", "--speed", "900",
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    stored = passes_in(etcd_client, namespace)
    assert {p.detector_id for p in stored.values()} == {f"load-{i:04d}" for i in range(5)}
    assert f", {len(stored)} passes:" in out  # what was acknowledged is what etcd holds
    assert "upload latency: p50" in out and "refused: none" in out


def test_a_missing_certificate_is_one_line_before_anything_is_sent(
    site: Site, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["sim", "load", "--central", "127.0.0.1:1", "--pki-dir", str(site.pki_dir),
                 "--detectors", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "no certificate for load-0000 (3 missing" in err
