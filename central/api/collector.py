"""roadside.v1 CollectorService: what agents and installers send. Thin: validate, convert, store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc

from roadside.central.api import admin, validation, wire
from roadside.central.api.grpc_errors import grpc_method
from roadside.central.api.quota import TokenBuckets
from roadside.central.api.validation import Limits
from roadside.central.store.clocks import ClockEstimator
from roadside.central.store.etcd_store import EtcdStore
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc

log = logging.getLogger(__name__)

MAX_KNOWN_DETECTORS = 100_000  # registry entries remembered per central (then forgotten)


class IngestServicer:
    """What both collector servicers hold: the store, the edge's limits, each detector's
    ingest quota and status-report rate, and a clock."""

    def __init__(
        self, store: EtcdStore, limits: Limits, clock_ns: Callable[[], int] = time.time_ns,
        on_stored: Callable[[int, float], None] | None = None,
    ) -> None:
        self.store = store
        self.on_stored = on_stored  # (passes, seconds): CentralMetrics.stored
        self.limits = limits
        self.clock_ns = clock_ns
        per_min = limits.ingest_passes_per_minute
        self.ingest = TokenBuckets(
            limits.ingest_burst_passes, per_min / 60,
            f"ingest quota of {per_min:g} passes per minute (burst {limits.ingest_burst_passes})",
        )
        rate = limits.status_reports_per_minute
        self.status_rate = TokenBuckets(rate, rate / 60, f"rate of {rate:g} status reports "
                                        "per minute")
        self._radios: dict[str, frozenset[str]] = {}  # what the registry lists, as last seen
        self.clocks = ClockEstimator(store.client, store.namespace)

    def heard(self, detector_id: str, radios: set[str]) -> None:
        """Uploads keep the registry's radios (and the detector's entry) up to date."""
        radios.discard("unknown")
        known = self._radios.get(detector_id)
        if known is not None and radios <= known:
            return
        if len(self._radios) >= MAX_KNOWN_DETECTORS:
            self._radios.clear()
        record = self.store.add_radios(detector_id, radios)
        self._radios[detector_id] = frozenset(record.radios)

    def forget(self, detector_id: str) -> None:
        """The registry entry changed elsewhere (a registration): read it again next time."""
        self._radios.pop(detector_id, None)


class CollectorServicer(IngestServicer, collector_pb2_grpc.CollectorServiceServicer):

    @grpc_method
    def UploadBatch(
        self, request: collector_pb2.UploadBatchRequest, context: grpc.ServicerContext
    ) -> collector_pb2.UploadBatchResponse:
        detections = validation.upload_batch(request, self.clock_ns(), self.limits)
        self.ingest.take(request.detector_id, len(detections))
        started = time.perf_counter()
        stored = self.store.put_detections(detections)
        if self.on_stored is not None:
            self.on_stored(stored, time.perf_counter() - started)
        self.heard(request.detector_id, {wire.RADIO_TO_TEXT.get(p.radio, "unknown")
                                         for p in request.passes})
        self.clocks.sample(request.detector_id, request.sent_ns, self.clock_ns())
        log.debug("batch %s from %s: %d passes committed",
                  request.batch_id, request.detector_id, stored)
        return collector_pb2.UploadBatchResponse(batch_id=request.batch_id, stored=stored)

    @grpc_method
    def RegisterDetector(
        self, request: collector_pb2.RegisterDetectorRequest, context: grpc.ServicerContext
    ) -> collector_pb2.RegisterDetectorResponse:
        stored = admin.register(self.store, request.detector)
        self.forget(stored.id)
        return collector_pb2.RegisterDetectorResponse(detector=wire.record_to_detector(stored))

    @grpc_method
    def SetLinks(
        self, request: collector_pb2.SetLinksRequest, context: grpc.ServicerContext
    ) -> collector_pb2.SetLinksResponse:
        links = admin.set_links(self.store, request)
        return collector_pb2.SetLinksResponse(links=[wire.record_to_link(x) for x in links])

    @grpc_method
    def ReportStatus(
        self, request: collector_pb2.ReportStatusRequest, context: grpc.ServicerContext
    ) -> collector_pb2.ReportStatusResponse:
        validation.report_status(request, self.clock_ns(), self.limits)
        status = request.status
        self.status_rate.take(status.detector_id)
        self.store.put_status(
            status.detector_id, wire.status_to_dict(status), status.reported_ns
        )
        return collector_pb2.ReportStatusResponse()

    @grpc_method
    def SetRoute(
        self, request: collector_pb2.SetRouteRequest, context: grpc.ServicerContext
    ) -> collector_pb2.SetRouteResponse:
        stored = admin.set_route(self.store, request.route)
        return collector_pb2.SetRouteResponse(route=wire.record_to_route(stored))
