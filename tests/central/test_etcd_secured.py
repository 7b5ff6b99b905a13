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

from roadside.central.api.server import RunningCentral, start_central
from roadside.central.pki.ca import SiteCA
from roadside.central.store.client import connect, tls_files
from roadside.common.identity import Identity
from roadside.proto.v1 import collector_pb2_grpc
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.central import central_test_config
from tests.fixtures.polling import wait_until


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
