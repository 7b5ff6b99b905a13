"""`roadside pki ...` and the operators' CLI over mTLS, end to end on a real central."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roadside.agent import enroll
from roadside.central.api.server import RunningCentral
from roadside.central.pki.ca import SiteCA
from roadside.common.main import main
from tests.fixtures.central import StartCentral
from tests.fixtures.trust import ANALYST, VIEWER, Site


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pki_init_issue_token_enroll_list_revoke(
    start_test_central: StartCentral, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    etcd_server: object, namespace: str,
) -> None:
    pki = tmp_path / "site-pki"  # tmp_path/pki is the `site` fixture's
    etcd = ["--pki-dir", str(pki), "--etcd-endpoints", etcd_server.endpoint,  # type: ignore[attr-defined]
            "--namespace", namespace]
    code, out, _ = run(capsys, "pki", "init", *etcd)
    assert code == 0 and (pki / "ca.key").stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "pki", "init", *etcd)
    assert code == 2 and "already there" in err
    code, out, _ = run(capsys, "pki", "issue", "central", "--dns", "localhost",
                       "--ip", "127.0.0.1", *etcd)
    assert code == 0 and (pki / "central.pem").exists()
    code, out, _ = run(capsys, "pki", "issue", "operator", "alice", "--role", "analyst",
                       *etcd)
    assert code == 0 and "operator alice (analyst)" in out
    assert (pki / "operator-alice.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SystemExit):
        main(["pki", "issue", "operator", "bob", "--role", "root", *etcd])
    assert "invalid choice: 'root'" in capsys.readouterr().err
    central = start_test_central(insecure=False, pki_dir=pki)
    code, token, _ = run(capsys, "pki", "token", "--detector", "box-1", *etcd)
    assert code == 0 and token.startswith("rst1.")
    got = enroll.enroll(token, central.enroll_addr, tmp_path / "box")
    assert got.detector_id == "box-1"
    code, out, _ = run(capsys, "pki", "list", *etcd)
    assert "operator alice (analyst)" in out and "detector box-1" in out
    code, out, _ = run(capsys, "pki", "revoke", "alice", *etcd)
    assert code == 0 and "revoked" in out and "alice" in out
    code, out, _ = run(capsys, "pki", "list", *etcd)
    [alice] = [line for line in out.splitlines() if "alice" in line]
    assert alice.split()[-1] != "-"  # the revocation time
    code, _, err = run(capsys, "pki", "revoke", "nobody", *etcd)
    assert code == 2 and "no live certificate" in err


def test_the_query_cli_over_mtls_with_roles(
    secure_central: RunningCentral, site: Site, capsys: pytest.CaptureFixture[str],
) -> None:
    host = ["--query-host", secure_central.query_addr]
    code, out, err = run(capsys, "query", "detectors", "--format", "json", *host,
                         *site.cli(VIEWER))
    assert code == 0, err
    code, _, err = run(capsys, "query", "events", "--since", "1h", *host, *site.cli(VIEWER))
    assert code == 2 and err.count("\n") == 1
    assert "needs role analyst; the caller is operator vera (viewer)" in err
    code, _, err = run(capsys, "query", "events", "--since", "1h", *host, *site.cli(ANALYST))
    assert code == 0, err
    code, out, err = run(capsys, "audit", "list", "--format", "json", *host,
                         *site.cli(ANALYST))
    assert code == 2 and "needs role admin" in err
    from tests.fixtures.trust import ADMIN
    code, out, err = run(capsys, "audit", "list", "--format", "json", *host, *site.cli(ADMIN))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert any(r["who"] == "operator ana (analyst)" for r in rows)


def test_on_a_laptop_serve_makes_the_pki_and_the_cli_finds_it(tmp_path: Path) -> None:
    """`central serve` with nothing configured serves mTLS; the CLI, also with nothing
    configured, calls it with the operator certificates serve made (admin, analyst)."""
    import os
    import subprocess
    import sys

    from tests.fixtures.serve import kill, start_serve, wait_serving

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    log = tmp_path / "serve.log"
    proc = start_serve(log, "--host", "127.0.0.1", "--collector-port", "0", "--query-port",
                       "0", "--health-port", "0", "--enroll-port", "0",
                       "--embedded-etcd-port", "0", env=env, insecure=False)
    try:
        serving = wait_serving(proc, log)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "roadside.common.main", *args],
                                  env=env, capture_output=True, text=True, timeout=60)

        events = cli("query", "events", "--since", "1h", "--query-host", serving.query)
        assert events.returncode == 0, events.stderr
        links = cli("links", "set", "b", "--src", "a:600", "--collector-host",
                    serving.collector)
        # admin passes the guard; central then names the unregistered detector
        assert links.returncode == 2 and "unknown detector 'b'" in links.stderr, links.stderr
        plain = cli("query", "detectors", "--insecure", "--query-host", serving.query)
        assert plain.returncode == 2 and "speaks TLS" in plain.stderr  # named, not "unreachable"
        assert "drop --insecure" in plain.stderr
        assert (tmp_path / "xdg" / "roadside" / "central" / "pki" / "ca.key").exists()
    finally:
        kill(proc)


@pytest.mark.parametrize(("args", "says"), [
    (["token", "--detector", "box-1", "--ttl", "100000d"], "--ttl: at most 30 days"),
    (["issue", "operator", "al", "--days", "-0.01"], "--days: a lifetime of more than 0"),
    (["issue", "operator", "al", "--days", "100000"], "at most 825 days"),
])
def test_lifetimes_are_bounded(args: list[str], says: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    SiteCA.init(tmp_path / "pki")
    assert main(["pki", *args, "--pki-dir", str(tmp_path / "pki")]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
