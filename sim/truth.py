"""The simulator's ground truth, as JSON: every trip's true travel time, the true median per
link per window, and every detection (vehicle, detector, device id) the detectors heard.

Windows are `WINDOW_S` long and a trip belongs to the window in which it reaches the
destination, as central's travel-time windows do. `median_s` counts every trip, stopped ones
included; `median_moving_s` leaves out trips that stopped on the way. Routes count the vehicles that
drove every link of the route, by arrival at its last detector. Device ids are the
keyed hashes the agents make (a raw MAC never goes into the file).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadside.agent.model import Sighting
from roadside.common.files import private_file
from roadside.sim.network import Network, Route
from roadside.sim.traffic import Simulation, Trip

WINDOW_S = 300
VERSION = 1

DeviceIdOf = Callable[[Sighting], str]
PolicyOf = Callable[[str], str]  # address kind value -> "keep", "tag" or "drop"


@dataclass(frozen=True, slots=True)
class Detection:
    """What one detector heard of one vehicle's address: the frames a pass should cover."""

    vehicle: int
    detector: str
    device_id: str
    radio: str
    address_kind: str
    first_ns: int
    last_ns: int
    count: int


def detections(sim: Simulation, device_id_of: DeviceIdOf) -> list[Detection]:
    """Group the heard frames by vehicle, detector and device id."""
    groups: dict[tuple[int, str, str], list[Sighting]] = defaultdict(list)
    for detector, heard in sim.heard.items():
        for h in heard:
            groups[(h.vehicle, detector, device_id_of(h.sighting))].append(h.sighting)
    out = []
    for (vehicle, detector, device_id), frames in groups.items():
        out.append(Detection(
            vehicle, detector, device_id, frames[0].radio.value, frames[0].address_kind.value,
            min(s.t_ns for s in frames), max(s.t_ns for s in frames), len(frames),
        ))
    out.sort(key=lambda d: (d.first_ns, d.detector, d.device_id))
    return out


def window_medians(trips: list[Trip], window_s: int = WINDOW_S) -> list[dict[str, Any]]:
    """The true median travel time per link and window of arrival at the destination."""
    groups: dict[tuple[str, str, int], list[Trip]] = defaultdict(list)
    for trip in trips:
        arrive_s = trip.dest_ns // 1_000_000_000
        groups[(trip.src, trip.dest, arrive_s - arrive_s % window_s)].append(trip)
    out = []
    for (src, dest, start), group in sorted(groups.items()):
        moving = [t.travel_s for t in group if t.stopped_s == 0]
        out.append({
            "src": src,
            "dest": dest,
            "window_start_s": start,
            "count": len(group),
            "median_s": round(statistics.median(t.travel_s for t in group), 3),
            "median_moving_s": round(statistics.median(moving), 3) if moving else None,
        })
    return out


def route_windows(
    trips: list[Trip], routes: tuple[Route, ...], window_s: int = WINDOW_S
) -> list[dict[str, Any]]:
    """The true median time along each route, over vehicles that drove all of it, per window
    of arrival at the route's last detector."""
    legs: dict[tuple[int, str, str], Trip] = {(t.vehicle, t.src, t.dest): t for t in trips}
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for route in routes:
        hops = list(zip(route.detector_ids, route.detector_ids[1:], strict=False))
        for (vehicle, src, dest), first in legs.items():
            if (src, dest) != hops[0]:
                continue
            path = [legs.get((vehicle, a, b)) for a, b in hops]
            last = path[-1]
            if last is None or any(p is None for p in path):
                continue
            arrive_s = last.dest_ns // 1_000_000_000
            groups[(route.name, arrive_s - arrive_s % window_s)].append(
                (last.dest_ns - first.src_ns) / 1e9)
    return [{"route": name, "window_start_s": start, "count": len(times),
             "median_s": round(statistics.median(times), 3)}
            for (name, start), times in sorted(groups.items())]


def build_truth(
    network: Network,
    sim: Simulation,
    seed: int,
    device_id_of: DeviceIdOf,
    policy_of: PolicyOf | None = None,
) -> dict[str, Any]:
    """The truth document. `policy_of` marks each detection with the agents' policy action
    for its address kind (dropped ones never reach central)."""
    found = detections(sim, device_id_of)
    ids_at: dict[tuple[int, str], set[str]] = defaultdict(set)
    for d in found:
        ids_at[(d.vehicle, d.detector)].add(d.device_id)
    trips = []
    for t in sim.trips:
        common = ids_at[(t.vehicle, t.src)] & ids_at[(t.vehicle, t.dest)]
        trips.append({
            "vehicle": t.vehicle, "src": t.src, "dest": t.dest,
            "src_ns": t.src_ns, "dest_ns": t.dest_ns, "travel_s": round(t.travel_s, 3),
            "stopped_s": round(t.stopped_s, 3),
            "matchable": bool(common),  # one of its device ids was heard at both ends
        })
    return {
        "version": VERSION,
        "network": network.name,
        "seed": seed,
        "start_ns": sim.start_ns,
        "end_ns": sim.end_ns,
        "window_s": WINDOW_S,
        "vehicles": sim.vehicles,
        "frames": sim.frames,
        "links": [{"src": link.src, "dest": link.dest, "length_m": link.length_m,
                   "max_seconds": link.max_seconds} for link in network.links],
        "trips": trips,
        "windows": window_medians(sim.trips),
        "routes": route_windows(sim.trips, network.routes),
        "detections": [{
            "vehicle": d.vehicle, "detector": d.detector, "device_id": d.device_id,
            "radio": d.radio, "address_kind": d.address_kind,
            "first_ns": d.first_ns, "last_ns": d.last_ns, "count": d.count,
            "policy": policy_of(d.address_kind) if policy_of else "keep",
        } for d in found],
    }


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        private_file(tmp)  # every detection by device id: 0600
        tmp.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # nothing half-written left behind
        raise
