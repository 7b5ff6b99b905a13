"""A box enrolls with a one-time token (its key made on the box), renews its own
certificate over its identity, and uploads with it; tokens are single use and expire."""

from __future__ import annotations

import secrets
from pathlib import Path

import etcd3
import grpc
import pytest
from cryptography import x509

from roadside.agent import enroll
from roadside.agent.buffer import DiskBuffer
from roadside.agent.uplink import Uplink
from roadside.central.api.server import RunningCentral
from roadside.central.pki.ca import SiteCA
from roadside.central.pki.registry import PkiRegistry
from roadside.common.identity import make_token, of_certificate, token_digest
from tests.agent.test_uplink import make_passes, rows_of, stored_keys
from tests.fixtures.agent import MakeConfig
from tests.fixtures.trust import Site

S = 1_000_000_000


def token_for(client: etcd3.MultiEndpointEtcd3Client, namespace: str, site: Site,
              detector: str, ttl_s: float = 3600) -> str:
    secret = secrets.token_bytes(32)
    PkiRegistry(client, namespace).add_token(token_digest(secret), detector, ttl_s)
    return make_token(secret, site.ca.cert_pem)


async def test_enroll_then_upload_with_the_certificate(
    secure_central: RunningCentral, site: Site, agent_config: MakeConfig, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    token = token_for(etcd_client, namespace, site, "box-7")
    got = enroll.enroll(token, secure_central.enroll_addr, tmp_path / "tls")
    assert got.detector_id == "box-7"
    assert got.key_file.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(got.cert_file.read_bytes())
    assert of_certificate(cert).name == "box-7"
    with pytest.raises(enroll.EnrollError, match="unknown, already used or expired"):
        enroll.enroll(token, secure_central.enroll_addr, tmp_path / "again")  # single use
    config = agent_config(secure_central.collector_addr, detector_id="box-7",
                          tls_ca_file=got.ca_file, tls_cert_file=got.cert_file,
                          tls_key_file=got.key_file)
    buf = DiskBuffer(tmp_path / "b.db", 10**9).open()
    passes = make_passes(10, detector="box-7")
    buf.append(rows_of(passes))
    uplink = Uplink(config, buf)
    try:
        assert await uplink.drain(20)
    finally:
        await uplink.close()
        buf.close()
    assert len(stored_keys(etcd_client, namespace, "box-7")) == 10


def test_an_expired_token_or_another_sites_ca_is_refused(
    secure_central: RunningCentral, site: Site, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    expired = token_for(etcd_client, namespace, site, "box-8", ttl_s=0.001)  # 1 ms of life
    with pytest.raises(enroll.EnrollError, match="unknown, already used or expired"):
        enroll.enroll(expired, secure_central.enroll_addr, tmp_path / "a")
    other = SiteCA.init(tmp_path / "other-site")
    secret = secrets.token_bytes(32)
    PkiRegistry(etcd_client, namespace).add_token(token_digest(secret), "box-9", 3600)
    with pytest.raises(enroll.EnrollError, match="does not present the CA the token pins"):
        enroll.enroll(make_token(secret, other.cert_pem), secure_central.enroll_addr,
                      tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing was sent, nothing written


async def test_an_agent_renews_its_certificate_before_it_expires(
    secure_central: RunningCentral, site: Site, agent_config: MakeConfig, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    tls = site.agent_tls("box-r", days=0.001)  # little of its life is left: renewal is due
    config = agent_config(secure_central.collector_addr, detector_id="box-r", **tls)
    before = x509.load_pem_x509_certificate(tls["tls_cert_file"].read_bytes())
    buf = DiskBuffer(tmp_path / "b.db", 10**9).open()
    uplink = Uplink(config, buf)
    try:
        assert enroll.renewal_due(tls["tls_cert_file"])
        assert await uplink.renew_certificate()
        after = x509.load_pem_x509_certificate(tls["tls_cert_file"].read_bytes())
        assert after.serial_number != before.serial_number
        assert of_certificate(after) == of_certificate(before)
        assert after.not_valid_after_utc > before.not_valid_after_utc
        assert not enroll.renewal_due(tls["tls_cert_file"])
        assert not await uplink.renew_certificate()  # not due any more: nothing done
        passes = make_passes(5, detector="box-r")
        buf.append(rows_of(passes))
        assert await uplink.drain(20)  # uploads go on with the new pair
    finally:
        await uplink.close()
        buf.close()
    assert len(stored_keys(etcd_client, namespace, "box-r")) == 5


def test_renew_needs_a_detector_certificate(secure_central: RunningCentral, site: Site) -> None:
    from roadside.common.identity import make_csr, new_key
    from roadside.proto.v1 import enroll_pb2, enroll_pb2_grpc
    from tests.fixtures.trust import ADMIN
    with site.channel(secure_central.collector_addr, ADMIN) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        enroll_pb2_grpc.EnrollServiceStub(channel).Renew(
            enroll_pb2.RenewRequest(csr_pem=make_csr(new_key(), "x")), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_refused_csr_leaves_the_token_usable_and_only_p256_is_signed(
    secure_central: RunningCentral, site: Site, tmp_path: Path,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from roadside.common.identity import make_csr
    from roadside.proto.v1 import enroll_pb2, enroll_pb2_grpc

    token = token_for(etcd_client, namespace, site, "box-9")
    creds = grpc.ssl_channel_credentials(root_certificates=site.ca.cert_pem)
    with grpc.secure_channel(secure_central.enroll_addr, creds) as channel:
        stub = enroll_pb2_grpc.EnrollServiceStub(channel)
        for curve in (ec.SECP384R1(), ec.SECP256K1()):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Enroll(enroll_pb2.EnrollRequest(
                    token=token, csr_pem=make_csr(ec.generate_private_key(curve), "x")),
                    timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "expected an EC P-256 key" in caught.value.details()
    assert enroll.enroll(token, secure_central.enroll_addr, tmp_path / "tls").detector_id \
        == "box-9"  # the token was not used up by the refusals


def test_renew_with_a_corrupt_csr_is_invalid_argument(
    secure_central: RunningCentral, site: Site,
) -> None:
    from roadside.common.identity import Identity, make_csr, new_key
    from roadside.proto.v1 import enroll_pb2, enroll_pb2_grpc

    good = make_csr(new_key(), "x")
    corrupt = good.replace(good[60:90], bytes(reversed(good[60:90])))
    with site.channel(secure_central.collector_addr, Identity("detector", "box-3")) as channel:
        stub = enroll_pb2_grpc.EnrollServiceStub(channel)
        for csr in (corrupt, b"-----BEGIN CERTIFICATE REQUEST-----\n!!\n", b"\xff" * 100):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Renew(enroll_pb2.RenewRequest(csr_pem=csr), timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, csr
            assert caught.value.details().startswith("csr")
