"""Prometheus metrics on a port of their own (prometheus_client's exposition server).

Each process serves its own registry, plain HTTP, bound where its config says; the figures
come from collectors that read the process's own counters when Prometheus scrapes, so a
scrape costs nothing between scrapes and nothing is counted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Family = CounterMetricFamily | GaugeMetricFamily


class FromFunction(Collector):
    """A collector whose metric families a function makes at each scrape."""

    def __init__(self, make: Callable[[], Iterable[Metric]]) -> None:
        self._make = make

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._make()
        except Exception:  # a scrape must never break the process it watches
            log.exception("metrics: collecting failed")


def gauge(name: str, text: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def counter(name: str, text: str, value: float, **labels: str) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


class MetricsServer:
    """Serves `registry` on host:port (0 = any free port) until stop()."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, host, registry=registry)
        self.port = int(self._server.server_port)
        self.host = host

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
