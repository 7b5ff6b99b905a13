"""Central's Prometheus metrics, read from its parts at each scrape: gRPC calls by method and
status code, passes stored, etcd write latency, open streams, health, and the in-process
travel-time worker (windows published, recomputed, lag behind real time)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from roadside.common.metrics import FromFunction, counter, gauge


class CentralMetrics:
    """What central's servers count; `registry()` adds the figures read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._calls: Counter[tuple[str, str]] = Counter()
        self._passes = 0
        self._lock = threading.Lock()
        self.etcd_write = Histogram(
            "roadside_central_etcd_write_seconds", "time to commit one upload's detections",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry)
        self._gauges: list[Callable[[], Iterator[Metric]]] = []
        self.registry.register(FromFunction(self._collect))

    def call(self, method: str, code: str) -> None:
        with self._lock:
            self._calls[(method, code)] += 1

    def stored(self, passes: int, seconds: float) -> None:
        with self._lock:
            self._passes += passes
        self.etcd_write.observe(seconds)

    def add(self, make: Callable[[], Iterator[Metric]]) -> None:
        """More families, made at each scrape (open streams, health, the worker)."""
        self._gauges.append(make)

    def _collect(self) -> Iterator[Metric]:
        with self._lock:
            calls = dict(self._calls)
            passes = self._passes
        family = CounterMetricFamily("roadside_central_calls",
                                     "gRPC calls by method and status code",
                                     labels=["method", "code"])
        for (method, code), n in sorted(calls.items()):
            family.add_metric([method, code], n)
        yield family
        yield counter("roadside_central_passes_stored", "passes committed to etcd", passes)
        for make in self._gauges:
            yield from make()


def streams_family(servers: dict[str, Callable[[], int]]) -> Iterator[Metric]:
    family = GaugeMetricFamily("roadside_central_open_streams",
                               "streaming calls open now, per server", labels=["server"])
    for name, count in servers.items():
        family.add_metric([name], count())
    yield family


def health_family(serving: Callable[[], bool]) -> Iterator[Metric]:
    yield gauge("roadside_central_serving", "1 while etcd answers (grpc.health SERVING)",
                1.0 if serving() else 0.0)


def shards_family(shards: Callable[[], dict[str, bool]]) -> Iterator[Metric]:
    family = GaugeMetricFamily("roadside_central_shard_up",
                               "1 while the detection shard answers without alarms",
                               labels=["shard"])
    for name, up in sorted(shards().items()):
        family.add_metric([name], 1.0 if up else 0.0)
    yield family


def worker_families(published: Callable[[], int], recomputed: Callable[[], int],
                    newest_end_ns: Callable[[], int]) -> Iterator[Metric]:
    yield counter("roadside_worker_windows_published", "travel-time windows written",
                  published())
    yield counter("roadside_worker_windows_recomputed",
                  "windows written again for late data", recomputed())
    newest = newest_end_ns()
    lag = (time.time_ns() - newest) / 1e9 if newest else float("nan")
    yield gauge("roadside_worker_lag_seconds",
                "now minus the end of the newest window published (NaN before the first)", lag)
