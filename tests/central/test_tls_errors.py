"""TLS mistakes are named in one line with the setting that fixes them, never reported as
"unreachable" when a central answered (the operators' CLI and an agent's replay)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.pki.ca import SiteCA
from roadside.common.identity import Identity
from tests.fixtures.trust import ADMIN, Site

pytestmark = pytest.mark.wheel  # also run against the installed wheel

TIMEOUT_S = 60


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "roadside.common.main", *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def query(central: RunningCentral, ca: Path, cert: Path, key: Path) -> str:
    done = cli("query", "detectors", "--query-host", central.query_addr, "--tls-ca-file",
               str(ca), "--tls-cert-file", str(cert), "--tls-key-file", str(key))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "unreachable" not in lines[0]
    return lines[0]


@pytest.fixture
def other_site(tmp_path: Path) -> SiteCA:
    return SiteCA.init(tmp_path / "other-site")


def _write(ca: SiteCA, who: Identity, base: Path, days: float | None = None) -> tuple[Path, Path]:
    issued = ca.issue(who, days=days)
    base.with_suffix(".pem").write_bytes(issued.cert_pem)
    base.with_suffix(".key").write_bytes(issued.key_pem)
    return base.with_suffix(".pem"), base.with_suffix(".key")


def test_each_tls_mistake_is_named(secure_central: RunningCentral, site: Site,
                                   other_site: SiteCA, tmp_path: Path) -> None:
    cert, key = site.files(ADMIN)
    foreign_ca = other_site.directory / "ca.pem"

    # our certificate, another site's CA file
    line = query(secure_central, foreign_ca, cert, key)
    assert "is not from the site CA in tls_ca_file" in line and str(foreign_ca) in line

    # another site's certificate and CA: central's own certificate is not from that CA
    f_cert, f_key = _write(other_site, ADMIN, tmp_path / "foreign-admin")
    line = query(secure_central, foreign_ca, f_cert, f_key)
    assert "central's certificate" in line and "the wrong CA file" in line

    # a key that is not the certificate's
    _, other_key = site.files(Identity("operator", "bob", "viewer"))
    line = query(secure_central, site.ca_file, cert, other_key)
    assert "is not the key of tls_cert_file" in line and str(other_key) in line

    # an expired certificate (issued backdated by 5 minutes, expired a minute ago)
    old_cert, old_key = _write(site.ca, Identity("operator", "old", "viewer"),
                               tmp_path / "old", days=-1 / 1440)
    line = query(secure_central, site.ca_file, old_cert, old_key)
    assert "expired on" in line and "tls_cert_file" in line

    # plaintext against TLS
    plain = cli("query", "detectors", "--query-host", secure_central.query_addr, "--insecure")
    assert plain.returncode == 2 and "speaks TLS" in plain.stderr
    assert "drop --insecure" in plain.stderr


def test_tls_against_a_plaintext_central_is_named(start_test_central: object,
                                                  site: Site) -> None:
    central = start_test_central(insecure=True)  # type: ignore[operator]
    cert, key = site.files(ADMIN)
    line = query(central, site.ca_file, cert, key)
    assert "speaks plaintext" in line and "--insecure" in line


def test_a_replay_names_plaintext_against_tls(secure_central: RunningCentral,
                                              captures_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "agent", "replay", "--detector", "d1",
         "--insecure", "--central", secure_central.collector_addr, "--secret-file",
         str(tmp_path / "site.secret"), "--fast", "--quiet", "--drain-timeout", "2",
         str(captures_dir / "wifi" / "probing-patterns_S21Ultra-M.pcap")],
        capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "speaks TLS" in last and "drop --insecure" in last, done.stderr


def test_a_replay_refused_by_central_stops_at_once_with_the_reason(
        secure_central: RunningCentral, site: Site, captures_dir: Path,
        tmp_path: Path) -> None:
    """Another detector's certificate: retrying cannot cure that, so the replay ends (long
    before its drain timeout) naming central's refusal."""
    cert, key = site.files(Identity("detector", "d1"))
    done = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "agent", "replay", "--detector", "d2",
         "--central", secure_central.collector_addr, "--secret-file",
         str(tmp_path / "site.secret"), "--fast", "--shift-to-now", "--quiet",
         "--drain-timeout", "3600",
         str(captures_dir / "wifi" / "probing-patterns_S21Ultra-M.pcap")],
        capture_output=True, text=True, timeout=TIMEOUT_S,
        env={**os.environ, "ROADSIDE_TLS_CA_FILE": str(site.ca_file),
             "ROADSIDE_TLS_CERT_FILE": str(cert), "ROADSIDE_TLS_KEY_FILE": str(key)})
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "central refused this detector's uploads (PERMISSION_DENIED" in last, done.stderr
