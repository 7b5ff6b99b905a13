"""The agent's Prometheus metrics: what its status report says, as it is at each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from roadside.agent.pipeline import PipelineCounts
from roadside.agent.status import AgentStatus
from roadside.common.metrics import FromFunction, counter, gauge


def registry(status: Callable[[], AgentStatus | None],
             counts: Callable[[], PipelineCounts]) -> CollectorRegistry:
    """A registry of the agent's figures: `status` is its latest snapshot (None before the
    first), `counts` the pipeline's counters now."""

    def make() -> Iterator[Metric]:
        by_source = CounterMetricFamily("roadside_agent_sightings",
                                        "radio sightings heard, by source", labels=["source"])
        for name, n in counts().by_source:
            by_source.add_metric([name], n)
        yield by_source
        s = status()
        if s is None:
            return
        yield gauge("roadside_agent_buffer_depth", "passes waiting for central's ack",
                    s.buffer_depth)
        yield gauge("roadside_agent_buffer_bytes", "bytes of the disk buffer", s.buffer_bytes)
        yield gauge("roadside_agent_oldest_unsent_seconds",
                    "age of the oldest pass not yet acknowledged", s.oldest_unsent_age_s)
        yield gauge("roadside_agent_last_upload_timestamp_seconds",
                    "when central last acknowledged a batch (0 = never)",
                    s.last_upload_ns / 1e9)
        yield counter("roadside_agent_upload_failures", "failed upload attempts",
                      s.upload_failures)
        yield counter("roadside_agent_passes", "passes written to the buffer", s.passes_total)
        yield counter("roadside_agent_dropped_passes", "passes dropped: the buffer was full",
                      s.dropped_passes)
        yield counter("roadside_agent_lost_passes",
                      "passes lost while the buffer could not be written", s.lost_passes)
        yield counter("roadside_agent_quarantined_databases",
                      "damaged buffer files set aside", s.quarantined_databases)
        yield counter("roadside_agent_over_budget_sightings",
                      "randomized-address sightings refused a new pass", s.over_budget_sightings)
        yield counter("roadside_agent_erased_epoch_sightings",
                      "sightings timed in an epoch whose key the box has erased",
                      s.erased_epoch_sightings)
        yield gauge("roadside_agent_clock_synchronised", "1 when the clock is NTP-synchronised",
                    1.0 if s.clock_sync.value == "synced" else 0.0)
        up = GaugeMetricFamily("roadside_agent_source_up", "1 while the source is running",
                               labels=["source"])
        for source in s.sources:
            up.add_metric([source.name], 1.0 if source.state == "running" else 0.0)
        yield up

    reg = CollectorRegistry(auto_describe=False)
    reg.register(FromFunction(make))
    return reg
