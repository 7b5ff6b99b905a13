"""Register a network's detectors, links and routes at central (RegisterDetector, SetLinks,
SetRoute)."""

from __future__ import annotations

import logging
from collections import defaultdict

import grpc
import grpc.aio

from roadside.agent.channel import open_channel
from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2
from roadside.sim.network import Network

log = logging.getLogger(__name__)

REGISTER_TIMEOUT_S = 10.0  # per call; central answers after etcd has the write


class RegisterError(AgentError):
    """Central refused or could not be reached while registering the network."""


async def register_network(network: Network, endpoint: str, config: AgentConfig) -> None:
    """Register every detector, then each destination's incoming links."""
    channel = open_channel(endpoint, config)
    try:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)  # type: ignore[no-untyped-call]
        for d in network.detectors:
            detector = types_pb2.Detector(
                id=d.id, name=d.name, latitude=d.latitude, longitude=d.longitude,
                radios=["RADIO_KIND_" + r.value.upper() for r in d.radios],  # enum names
            )
            await _call(stub.RegisterDetector,
                        collector_pb2.RegisterDetectorRequest(detector=detector),
                        f"detector {d.id}", endpoint)
        incoming: dict[str, list[collector_pb2.LinkSource]] = defaultdict(list)
        for link in network.links:
            incoming[link.dest].append(collector_pb2.LinkSource(
                src_detector_id=link.src, max_seconds=link.max_seconds,
                length_m=link.length_m, geometry=link.road))
        for dest, sources in incoming.items():
            await _call(stub.SetLinks,
                        collector_pb2.SetLinksRequest(dest_detector_id=dest, sources=sources),
                        f"links into {dest}", endpoint)
        for route in network.routes:
            await _call(stub.SetRoute, collector_pb2.SetRouteRequest(route=collector_pb2.Route(
                name=route.name, detector_ids=route.detector_ids)),
                f"route {route.name}", endpoint)
    finally:
        await channel.close()
    log.info("registered %d detectors, %d links and %d routes at %s",
             len(network.detectors), len(network.links), len(network.routes), endpoint)


async def _call(method: object, request: object, what: str, endpoint: str) -> None:
    try:
        await method(request, timeout=REGISTER_TIMEOUT_S)  # type: ignore[operator]
    except grpc.aio.AioRpcError as exc:
        raise RegisterError(
            f"central {endpoint}: registering {what} failed: {exc.code().name}: {exc.details()}"
        ) from exc
