"""TLS and mutual TLS on the collector and query ports."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from roadside.central.api.server import RunningCentral
from roadside.proto.v1 import collector_pb2_grpc
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.tls import Pki


def _upload(channel: grpc.Channel) -> int:
    stub = collector_pb2_grpc.CollectorServiceStub(channel)
    return int(stub.UploadBatch(make_batch("det-t", [make_pass()]), timeout=10).stored)


def test_tls_upload_and_plaintext_refused(
    tls_pki: Pki, start_test_central: Callable[..., RunningCentral]
) -> None:
    central = start_test_central(tls_cert_file=tls_pki.server_cert, tls_key_file=tls_pki.server_key)
    creds = grpc.ssl_channel_credentials(root_certificates=tls_pki.ca.read_bytes())
    with grpc.secure_channel(central.collector_addr, creds) as channel:
        assert _upload(channel) == 1
    with grpc.insecure_channel(central.collector_addr) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        _upload(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate(
    tls_pki: Pki, start_test_central: Callable[..., RunningCentral]
) -> None:
    central = start_test_central(
        tls_cert_file=tls_pki.server_cert, tls_key_file=tls_pki.server_key,
        tls_client_ca_file=tls_pki.ca,
    )
    ca = tls_pki.ca.read_bytes()
    with grpc.secure_channel(central.collector_addr,
                             grpc.ssl_channel_credentials(root_certificates=ca)) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        _upload(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    creds = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=tls_pki.client_key.read_bytes(),
        certificate_chain=tls_pki.client_cert.read_bytes(),
    )
    with grpc.secure_channel(central.collector_addr, creds) as channel:
        assert _upload(channel) == 1
