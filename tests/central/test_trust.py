"""Every caller proves who it is and gets only what its role allows: the role table on
every RPC of both APIs, with every role, against a real mTLS central on loopback."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import etcd3
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from roadside.central.api.authz import RULES
from roadside.central.api.server import (
    COLLECTOR,
    ENROLL,
    LEGACY_COLLECTOR,
    LEGACY_QUERY,
    QUERY,
    RunningCentral,
)
from roadside.central.pki.ca import SiteCA
from roadside.central.pki.registry import PkiRegistry
from roadside.central.store import keys
from roadside.central.store.records import DetectorRecord
from roadside.common.identity import Identity, key_pem, new_key
from roadside.proto.v1 import collector_pb2_grpc, query_pb2, query_pb2_grpc
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.polling import wait_until
from tests.fixtures.trust import ADMIN, ANALYST, DETECTOR_A, DETECTOR_B, VIEWER, Site

CALL_S = 10
AUTH_CODES = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
ACTING = {  # where a request names the detector it acts for
    "UploadBatch": lambda r: setattr(r, "detector_id", "det-a"),
    "RegisterDetector": lambda r: setattr(r.detector, "id", "det-a"),
    "ReportStatus": lambda r: setattr(r.status, "detector_id", "det-a"),
    "CreateEventLog": lambda r: setattr(r.loc, "detector_id", "det-a"),
    "StreamEventLog": lambda r: setattr(r.loc, "detector_id", "det-a"),
    "CreateCoordinates": lambda r: setattr(r, "detector_id", "det-a"),
    "CreateDetectorStatus": lambda r: setattr(r.loc, "detector_id", "det-a"),
}
SERVICES = (COLLECTOR, LEGACY_COLLECTOR, QUERY, LEGACY_QUERY)


def methods() -> list[MethodDescriptor]:
    return [m for s in SERVICES for m in s.methods]


def call(channel: grpc.Channel, method: MethodDescriptor) -> grpc.StatusCode:
    """Call `method` with a minimal request; its status code (OK when it succeeded)."""
    cls = message_factory.GetMessageClass(method.input_type)
    request = cls()
    ACTING.get(method.name, lambda r: None)(request)
    path = f"/{method.containing_service.full_name}/{method.name}"
    out = message_factory.GetMessageClass(method.output_type).FromString
    try:
        if method.client_streaming:
            channel.stream_unary(path, cls.SerializeToString, out)(iter([request]),
                                                                   timeout=CALL_S)
        elif method.server_streaming:
            for _ in channel.unary_stream(path, cls.SerializeToString, out)(request,
                                                                             timeout=CALL_S):
                break
        else:
            channel.unary_unary(path, cls.SerializeToString, out)(request, timeout=CALL_S)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def stored_keys(client: etcd3.MultiEndpointEtcd3Client, namespace: str) -> list[str]:
    return sorted(m.key.decode() for _, m in client.get_prefix(f"/{namespace}/", keys_only=True)
                  if b"/pki/" not in m.key and b"/audit/" not in m.key)


def test_the_role_table_names_every_method_of_both_apis() -> None:
    names = {m.full_name for s in (*SERVICES, ENROLL) for m in s.methods}
    assert names == set(RULES)


def test_every_rpc_with_every_role(
    secure_central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    central = secure_central
    callers = (DETECTOR_A, DETECTOR_B, VIEWER, ANALYST, ADMIN)
    refused: list[tuple[Identity, MethodDescriptor]] = []
    allowed: list[tuple[Identity, MethodDescriptor]] = []
    for who in callers:
        for method in methods():
            own = who != DETECTOR_B or method.name not in ACTING  # requests name det-a
            ok = who.effective_role in RULES[method.full_name].roles and own
            (allowed if ok else refused).append((who, method))

    def addr(method: MethodDescriptor) -> str:
        collector = "Collector" in method.containing_service.name
        return central.collector_addr if collector else central.query_addr

    for who, method in refused:  # first every refusal: nothing may be written by them
        with site.channel(addr(method), who) as channel:
            got = call(channel, method)
        assert got == grpc.StatusCode.PERMISSION_DENIED, (str(who), method.full_name, got)
    assert stored_keys(etcd_client, namespace) == []
    assert len(refused) > 50 and len(allowed) > 30
    for who, method in allowed:
        with site.channel(addr(method), who) as channel:
            got = call(channel, method)
        assert got not in AUTH_CODES, (str(who), method.full_name, got)


@pytest.mark.parametrize("how", ["no certificate", "a foreign CA's", "an expired one"])
def test_callers_without_a_valid_certificate_are_refused(
    secure_central: RunningCentral, site: Site, tmp_path: Any, how: str,
) -> None:
    ca = site.ca.cert_pem
    if how == "no certificate":
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
    elif how == "a foreign CA's":
        foreign = SiteCA.init(tmp_path / "foreign").issue(ADMIN)
        creds = grpc.ssl_channel_credentials(ca, foreign.key_pem, foreign.cert_pem)
    else:
        key = new_key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(site.ca.cert.subject)
                .issuer_name(site.ca.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=2))
                .not_valid_after(now - datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(ADMIN.uri)]), critical=False)
                .sign(site.ca.key, hashes.SHA256()))
        from cryptography.hazmat.primitives import serialization
        creds = grpc.ssl_channel_credentials(ca, key_pem(key),
                                             cert.public_bytes(serialization.Encoding.PEM))
    with grpc.secure_channel(secure_central.query_addr, creds) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListDetectors(query_pb2.ListDetectorsRequest(), timeout=CALL_S)
    # the TLS handshake itself refuses them: no call reaches a servicer
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_is_refused(secure_central: RunningCentral) -> None:
    with grpc.insecure_channel(secure_central.collector_addr) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            collector_pb2_grpc.CollectorServiceStub(channel).UploadBatch(
                make_batch("det-a", [make_pass()]), timeout=CALL_S)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_detector_cannot_upload_as_another(
    secure_central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    with site.channel(secure_central.collector_addr, DETECTOR_A) as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.UploadBatch(make_batch("det-b", [make_pass()]), timeout=CALL_S)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "detector det-a may act only for itself, not for 'det-b'" in caught.value.details()
        assert not list(etcd_client.get_prefix(keys.detector_prefix(namespace, "det-b")))
        assert stub.UploadBatch(make_batch("det-a", [make_pass()]), timeout=CALL_S).stored == 1


def test_a_viewer_gets_no_per_device_data_and_names_the_role_needed(
    secure_central: RunningCentral, site: Site,
) -> None:
    with site.channel(secure_central.query_addr, VIEWER) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetEvents(query_pb2.GetEventsRequest(), timeout=CALL_S)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "needs role analyst; the caller is operator vera (viewer)" in \
            caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetTravelTimes(query_pb2.GetTravelTimesRequest(
                link=query_pb2.LinkRef(src_detector_id="a", dest_detector_id="b"),
                include_samples=True), timeout=CALL_S)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "per-device data needs role analyst" in caught.value.details()


def test_a_revoked_certificate_is_refused_within_seconds(
    secure_central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str,
) -> None:
    cert_file, _ = site.files(VIEWER)
    PkiRegistry(etcd_client, namespace).record(
        x509.load_pem_x509_certificate(cert_file.read_bytes()))
    with site.channel(secure_central.query_addr, VIEWER) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        stub.ListDetectors(query_pb2.ListDetectorsRequest(), timeout=CALL_S)
        [revoked] = PkiRegistry(etcd_client, namespace).revoke("vera")

        def refused() -> bool:
            try:
                stub.ListDetectors(query_pb2.ListDetectorsRequest(), timeout=CALL_S)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
                return f"certificate {revoked.serial:x}" in exc.details() and "revoked" in \
                    exc.details()
            return False

        wait_until(refused, 10, "the revocation to reach central")


def test_analyst_reads_are_audited_and_shown_to_admins(
    secure_central: RunningCentral, site: Site,
) -> None:
    with site.channel(secure_central.query_addr, ANALYST) as channel:
        query_pb2_grpc.QueryServiceStub(channel).GetEvents(
            query_pb2.GetEventsRequest(since_ns=time.time_ns() - 60 * 10**9), timeout=CALL_S)
    with site.channel(secure_central.query_addr, ADMIN) as channel:
        entries = query_pb2_grpc.QueryServiceStub(channel).ListAudit(
            query_pb2.ListAuditRequest(), timeout=CALL_S).entries
    [entry] = [e for e in entries if e.method.endswith("GetEvents")]
    assert entry.who == "operator ana (analyst)" and "events of every detector" in entry.what
    with site.channel(secure_central.query_addr, ANALYST) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        query_pb2_grpc.QueryServiceStub(channel).ListAudit(query_pb2.ListAuditRequest(),
                                                           timeout=CALL_S)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_insecure_is_refused_off_loopback(start_test_central: Callable[..., RunningCentral]
                                          ) -> None:
    from roadside.central.errors import CentralError
    with pytest.raises(CentralError, match=r"insecure: refused on 0\.0\.0\.0"):
        start_test_central(host="0.0.0.0", insecure=True)


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_revoking_an_analyst_ends_their_open_follow_stream(
    secure_central: RunningCentral, site: Site, etcd_client: etcd3.MultiEndpointEtcd3Client,
    namespace: str, busy: bool,
) -> None:
    """A follow stream opened before the revocation ends (UNAUTHENTICATED naming it) and
    hands out no device id after it: whether events keep coming or none do."""
    from tests.central.query_helpers import make_pass as stored_pass

    cert_file, _ = site.files(ANALYST)
    registry = PkiRegistry(etcd_client, namespace)
    registry.record(x509.load_pem_x509_certificate(cert_file.read_bytes()))
    now = time.time_ns()
    secure_central.store.put_passes([stored_pass("f1", now - 10**9)])
    with site.channel(secure_central.query_addr, ANALYST) as channel:
        stream = query_pb2_grpc.QueryServiceStub(channel).StreamEvents(
            query_pb2.StreamEventsRequest(detector_ids=["f1"], follow=True,
                                          since_ns=now - 60 * 10**9), timeout=60)
        assert next(stream)  # the stream is open and delivering
        [revoked] = registry.revoke("ana")
        got_after = 0
        with pytest.raises(grpc.RpcError) as ended:
            for i in range(10_000):
                if busy:
                    secure_central.store.put_passes([stored_pass("f1", now + i * 10**6)])
                next(stream)
                got_after += 1
        assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert f"certificate {revoked.serial:x} was revoked" in ended.value.details()
        assert got_after < 10_000  # it ended; it did not run out


def _audit(central: RunningCentral, site: Site, **request: Any) -> list[Any]:
    with site.channel(central.query_addr, ADMIN) as channel:
        return list(query_pb2_grpc.QueryServiceStub(channel).ListAudit(
            query_pb2.ListAuditRequest(**request), timeout=CALL_S).entries)


def test_the_audit_log_is_bounded_printable_and_written_once_validated(
    secure_central: RunningCentral, site: Site,
) -> None:
    since = time.time_ns() - 60 * 10**9
    with site.channel(secure_central.query_addr, ANALYST) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:  # a 1.4 MB id: refused, not audited
            stub.GetEvents(query_pb2.GetEventsRequest(detector_ids=["a" * 1_400_000],
                                                      since_ns=since), timeout=CALL_S)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _audit(secure_central, site) == []
        many = [f"d{i:03d}-{'x' * 50}" for i in range(200)]  # valid, and long together
        for detector_id in many:
            secure_central.store.register_detector(DetectorRecord(detector_id))
        stub.GetEvents(query_pb2.GetEventsRequest(detector_ids=many, since_ns=since),
                       timeout=CALL_S)
    [entry] = _audit(secure_central, site)
    assert len(entry.what) < 600 and "more characters cut" in entry.what
    secure_central.store.put_audit("operator x (admin)", "M", "\x1b[31mred\x07")
    assert _audit(secure_central, site)[-1].what == "\\x1b[31mred\\x07"


def test_a_large_audit_log_lists_page_by_page(secure_central: RunningCentral,
                                              site: Site) -> None:
    for i in range(1500):  # entries at the bound
        secure_central.store.put_audit("operator x (admin)", "M", f"{i:04d}" + "w" * 5000)
    first = _audit(secure_central, site)
    assert len(first) == 1000  # the default page, within gRPC's message limit
    rest = _audit(secure_central, site, since_ns=first[-1].at_ns + 1)
    assert {e.what[:4] for e in first} | {e.what[:4] for e in rest} == \
        {f"{i:04d}" for i in range(1500)}
