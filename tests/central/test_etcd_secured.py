"""The embedded etcd is secured from the site PKI: TLS with client certificates and auth,
the roadside user limited to its namespace; an unprivileged local user gets nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import etcd3
import grpc
import pytest
from cryptography import x509

from roadside.central.api.server import RunningCentral, start_central
from roadside.central.pki.ca import SiteCA
from roadside.central.store.client import connect, tls_files
from roadside.central.store.etcd_process import find_etcd_binary, free_port
from roadside.common.identity import Identity
from roadside.common.main import main
from roadside.proto.v1 import collector_pb2_grpc
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.central import central_test_config
from tests.fixtures.polling import wait_until
from tests.fixtures.trust import Site

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def laptop(tmp_path: Path, namespace: str) -> Iterator[RunningCentral]:
    config = central_test_config("unused:1", namespace, tmp_path / "data", etcd_endpoints=(),
                                 insecure=False, embedded_etcd_port=0, worker=True)
    central = start_central(config)
    yield central
    central.stop(0)


def _etcdctl(args: list[str], user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["etcdctl", *args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "ETCDCTL_API": "3"})


def test_central_and_its_worker_on_an_etcd_with_tls_and_auth(
    laptop: RunningCentral, namespace: str,
) -> None:
    pki = laptop.config.data_dir / "pki"
    endpoint = laptop.etcd_endpoints[0]
    with pytest.raises(etcd3.exceptions.Etcd3Exception):  # plaintext: no answer
        connect([endpoint], timeout=2).get("/x")
    site = SiteCA.load(pki)
    issued = site.issue(Identity("detector", "det-a"))
    creds = grpc.ssl_channel_credentials(site.cert_pem, issued.key_pem, issued.cert_pem)
    with grpc.secure_channel(laptop.collector_addr, creds) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        assert stub.UploadBatch(make_batch("det-a", [make_pass()]), timeout=10).stored == 1
    user = connect([endpoint], tls=tls_files(pki / "ca.pem", pki / "etcd-client.pem",
                                             pki / "etcd-client.key"))
    try:
        assert list(user.get_prefix(f"/{namespace}/detectors/det-a/", keys_only=True))
        wait_until(lambda: list(user.get_prefix(f"/{namespace}/workers/", keys_only=True)),
                   20, "the in-process worker registered through etcd auth")
        with pytest.raises(grpc.RpcError) as caught:  # outside the namespace: refused
            user.put("/elsewhere", "x")
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        user.close()
    for name in ("ca.key", "etcd-client.key", "etcd-root.key", "etcd-server.key"):
        assert (pki / name).stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="needs root to run etcdctl as another local user")
@pytest.mark.skipif(not shutil.which("etcdctl"), reason="needs etcdctl (etcd-client)")
def test_an_unprivileged_local_user_can_neither_read_nor_delete(
    laptop: RunningCentral, namespace: str,
) -> None:
    pki = laptop.config.data_dir / "pki"
    url = f"https://{laptop.etcd_endpoints[0]}"
    ca_copy = Path("/tmp") / f"roadside-ca-{namespace}.pem"  # the CA is public: give it
    ca_copy.write_bytes((pki / "ca.pem").read_bytes())
    ca_copy.chmod(0o644)
    try:
        for args in (["get", "/", "--prefix"], ["del", f"/{namespace}/", "--prefix"]):
            got = _etcdctl(["--endpoints", url, "--cacert", str(ca_copy), *args], user="nobody")
            assert got.returncode != 0, got.stdout
        stolen = _etcdctl(["--endpoints", url, "--cacert", str(ca_copy), "--cert",
                           str(pki / "etcd-client.pem"), "--key", str(pki / "etcd-client.key"),
                           "get", "/", "--prefix"], user="nobody")
        assert stolen.returncode != 0  # the key files are root's, 0600
        assert "permission denied" in stolen.stderr.lower()
    finally:
        ca_copy.unlink()


def test_an_installed_etcd_secured_as_the_installer_does_it(
    tmp_path: Path, namespace: str, capsys: pytest.CaptureFixture[str],
) -> None:
    """`roadside pki etcd` makes the files, etcd runs with the drop-in's settings (paths and
    port moved into the test's directory), `--enable-auth` turns auth on, and central then
    works through it as the user roadside, confined to its namespace."""
    pki, server_dir = tmp_path / "pki", tmp_path / "etc-etcd"
    SiteCA.init(pki)
    assert main(["pki", "etcd", "--pki-dir", str(pki), "--server-dir", str(server_dir)]) == 0
    port, peer = free_port(), free_port()
    env = {}
    for line in (ROOT / "systemd" / "etcd-roadside.conf").read_text().splitlines():
        if line.startswith("Environment=ETCD_"):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value.replace("/etc/roadside/etcd", str(server_dir)).replace(
                ":2379", f":{port}").replace(":2380", f":{peer}")
    assert env["ETCD_CLIENT_CERT_AUTH"] == "true"
    etcd = subprocess.Popen(
        [find_etcd_binary(), "--data-dir", str(tmp_path / "etcd")],
        env={**env, "PATH": os.environ["PATH"]}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    endpoint = f"127.0.0.1:{port}"
    files = (pki / "ca.pem", pki / "etcd-client.pem", pki / "etcd-client.key")
    try:
        def up() -> bool:
            probe = connect([endpoint], timeout=1, tls=tls_files(*files))
            try:
                probe.status()
                return True
            except (etcd3.exceptions.Etcd3Exception, grpc.RpcError):
                return False
            finally:
                probe.close()

        wait_until(up, 30, "the secured etcd")
        assert main(["pki", "etcd", "--pki-dir", str(pki), "--enable-auth",
                     "--etcd-endpoints", endpoint, "--namespace", namespace]) == 0
        assert "auth on" in capsys.readouterr().out
        central = start_central(central_test_config(
            endpoint, namespace, tmp_path / "data", pki, etcd_ca_file=files[0],
            etcd_cert_file=files[1], etcd_key_file=files[2]))
        site = Site(pki, SiteCA.load(pki))
        try:
            stub = site.stub(central.collector_addr, collector_pb2_grpc.CollectorServiceStub)
            assert stub.UploadBatch(make_batch("det-a", [make_pass()]), timeout=10).stored == 1
        finally:
            site.close()
            central.stop(0)
        user = connect([endpoint], tls=tls_files(*files))
        try:
            assert list(user.get_prefix(f"/{namespace}/detectors/det-a/", keys_only=True))
            with pytest.raises(grpc.RpcError) as caught:  # outside the namespace: refused
                user.put("/elsewhere", "x")
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            user.close()
        with pytest.raises(etcd3.exceptions.Etcd3Exception):  # no certificate: no answer
            connect([endpoint], timeout=2).get("/x")
    finally:
        etcd.terminate()
        etcd.wait(30)


def test_the_etcd_certificate_names_the_members_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pki = tmp_path / "pki"
    SiteCA.init(pki)
    assert main(["pki", "etcd", "--pki-dir", str(pki), "--ip", "10.0.0.300"]) == 2
    assert "--ip: '10.0.0.300' does not appear to be an IPv4 or IPv6 address" in \
        capsys.readouterr().err
    assert main(["pki", "etcd", "--pki-dir", str(pki), "--dns", "etcd1", "--ip",
                 "10.0.0.5"]) == 0
    cert = x509.load_pem_x509_certificate((pki / "etcd-server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "etcd1"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1", "10.0.0.5"]
