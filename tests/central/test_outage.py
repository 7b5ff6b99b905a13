"""etcd goes away during uploads: calls fail without acks, health follows, nothing acked is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.central.api.server import RunningCentral
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc
from tests.central.helpers import make_batch, make_pass
from tests.fixtures.polling import wait_until
from tests.fixtures.stored import passes_in
from tests.fixtures.trust import Site

DEADLINE_S = 30.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Uploader:
    """Uploads batches back to back in a thread; remembers what was acknowledged."""

    def __init__(self, site: Site, addr: str) -> None:
        self.channel = site.routed(addr)
        self.stub = collector_pb2_grpc.CollectorServiceStub(self.channel)
        self.acked: list[collector_pb2.UploadBatchRequest] = []
        self.refused: list[grpc.StatusCode] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-uploader")
        self._n = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._n += 1
            batch = make_batch("det-o", [make_pass(device=self._n * 100 + i) for i in range(20)])
            try:
                reply = self.stub.UploadBatch(batch, timeout=10)
            except grpc.RpcError as exc:
                self.refused.append(exc.code())
                continue
            assert reply.stored == 20
            self.acked.append(batch)

    def __enter__(self) -> Uploader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_S)
        self.channel.close()


def test_etcd_outage_fails_calls_flips_health_and_recovers(
    site: Site, private_etcd: EtcdProcess, start_test_central: Callable[..., RunningCentral],
    namespace: str,
) -> None:
    central = start_test_central(
        endpoint=private_etcd.endpoint, etcd_timeout_s=1.0, health_poll_s=0.1
    )
    health_channel = grpc.insecure_channel(central.health_addr)
    health = health_pb2_grpc.HealthStub(health_channel)

    def status() -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status

    assert status() == SERVING
    with Uploader(site, central.collector_addr) as uploader:
        wait_until(lambda: len(uploader.acked) >= 3, DEADLINE_S, "first acks")
        private_etcd.kill()
        wait_until(lambda: len(uploader.refused) >= 3, DEADLINE_S, "refused uploads")
        wait_until(lambda: status() == NOT_SERVING, DEADLINE_S, "NOT_SERVING")
        acked_while_down = len(uploader.acked)
        wait_until(lambda: len(uploader.refused) >= 6, DEADLINE_S, "more refusals")
        assert len(uploader.acked) == acked_while_down  # no ack while etcd is away
        private_etcd.start()
        wait_until(lambda: status() == SERVING, DEADLINE_S, "SERVING again")
        wait_until(lambda: len(uploader.acked) >= acked_while_down + 3, DEADLINE_S,
                   "uploads resume")
    health_channel.close()

    assert set(uploader.refused) == {grpc.StatusCode.UNAVAILABLE}
    client = connect([private_etcd.endpoint])
    try:
        stored = set(passes_in(client, namespace))
    finally:
        client.close()
    for batch in uploader.acked:
        for p in batch.passes:
            bucket = p.timestamp_ns // 1_000_000_000 // 100 * 100
            assert f"/{namespace}/detectors/det-o/{bucket}/{p.ulid}.{p.device_id}" in stored


def test_nospace_alarm_means_not_serving_and_refused_uploads(
    site: Site,
    private_etcd: EtcdProcess, start_test_central: Callable[..., RunningCentral]
) -> None:
    central = start_test_central(endpoint=private_etcd.endpoint, health_poll_s=0.1)
    admin = connect([private_etcd.endpoint])
    channel = site.routed(central.collector_addr)
    stub = collector_pb2_grpc.CollectorServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)  # health is on the collector port too

    def status() -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status

    try:
        admin.create_alarm()  # what etcd raises when its quota is full
        wait_until(lambda: status() == NOT_SERVING, DEADLINE_S, "NOT_SERVING")
        batch = make_batch("det-n", [make_pass(device=1)])
        try:
            stub.UploadBatch(batch, timeout=10)
            raise AssertionError("upload acknowledged while etcd is out of space")
        except grpc.RpcError as exc:  # what it is: etcd out of space, not an outage
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "database space exceeded" in exc.details()
        prefix = f"/{central.config.namespace}/detectors/det-n/"
        assert list(admin.get_prefix(prefix, keys_only=True)) == []
        admin.disarm_alarm()
        wait_until(lambda: status() == SERVING, DEADLINE_S, "SERVING")
        assert stub.UploadBatch(batch, timeout=10).stored == 1
    finally:
        channel.close()
        admin.close()
