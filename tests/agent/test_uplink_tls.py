"""Uplink over TLS (CA file) and mutual TLS, to a real collector on a real etcd.

The test makes its own CA, server and client certificates with `cryptography`.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import etcd3
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from roadside.central.api.collector import CollectorServicer
from roadside.central.api.validation import Limits
from roadside.central.store.etcd_store import EtcdStore
from roadside.proto.v1 import collector_pb2_grpc
from tests.agent.test_uplink import make_passes, stored_keys, upload_all
from tests.fixtures.agent import MakeConfig


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: bytes
    server_key: bytes
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
          issuer_key: ec.EllipticCurvePrivateKey, server: bool = False,
          client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        ]), False).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca_key, other_key = _key(), _key()
    ca = _cert("roadside test CA", ca_key, None, ca_key)
    other = _cert("someone else's CA", other_key, None, other_key)
    server_key, client_key = _key(), _key()
    server = _cert("central", server_key, ca, ca_key, server=True)
    client = _cert("det-test", client_key, ca, ca_key, client=True)
    files = {"ca.pem": _pem(ca), "other.pem": _pem(other), "client.pem": _pem(client),
             "client.key": _pem_key(client_key)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return Pki(tmp_path / "ca.pem", _pem(server), _pem_key(server_key),
               tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "other.pem")


def _tls_collector(store: EtcdStore, pki: Pki, mutual: bool) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    collector_pb2_grpc.add_CollectorServiceServicer_to_server(  # type: ignore[no-untyped-call]
        CollectorServicer(store, Limits(7 * 86400, 300, 5000)), server
    )
    creds = grpc.ssl_server_credentials(
        [(pki.server_key, pki.server_cert)],
        root_certificates=pki.ca.read_bytes() if mutual else None,
        require_client_auth=mutual,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port


@pytest.fixture
def tls_collector(
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, pki: Pki
) -> Iterator[tuple[int, int]]:
    """(port of a TLS collector, port of a mutual-TLS collector)."""
    store = EtcdStore(etcd_client, namespace)
    plain, plain_port = _tls_collector(store, pki, mutual=False)
    mutual, mutual_port = _tls_collector(store, pki, mutual=True)
    yield plain_port, mutual_port
    plain.stop(grace=None).wait()
    mutual.stop(grace=None).wait()


async def test_tls_with_ca_file(
    tls_collector: tuple[int, int], pki: Pki, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, tmp_path: Path,
) -> None:
    port, _ = tls_collector
    config = agent_config(central=f"127.0.0.1:{port}", tls_ca_file=pki.ca)
    drained, _, _ = await upload_all(config, tmp_path / "b.db", make_passes(12), 20.0)
    assert drained and len(stored_keys(etcd_client, namespace, "det-test")) == 12


async def test_tls_refuses_a_server_of_another_ca(
    tls_collector: tuple[int, int], pki: Pki, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, tmp_path: Path,
) -> None:
    port, _ = tls_collector
    config = agent_config(central=f"127.0.0.1:{port}", tls_ca_file=pki.other_ca)
    drained, counts, left = await upload_all(config, tmp_path / "b.db", make_passes(5), 1.5)
    assert not drained and counts.failures >= 1 and left == 5  # kept for later
    assert stored_keys(etcd_client, namespace, "det-test") == set()


async def test_mutual_tls_needs_the_client_certificate(
    tls_collector: tuple[int, int], pki: Pki, agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str, tmp_path: Path,
) -> None:
    _, port = tls_collector
    config = agent_config(central=f"127.0.0.1:{port}", tls_ca_file=pki.ca)
    drained, _, left = await upload_all(config, tmp_path / "a.db", make_passes(5), 1.5)
    assert not drained and left == 5
    config = agent_config(central=f"127.0.0.1:{port}", tls_ca_file=pki.ca,
                          tls_cert_file=pki.client_cert, tls_key_file=pki.client_key)
    drained, _, _ = await upload_all(config, tmp_path / "b.db", make_passes(7), 20.0)
    assert drained and len(stored_keys(etcd_client, namespace, "det-test")) == 7
