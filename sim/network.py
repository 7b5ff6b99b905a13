"""The simulator's road network, read from YAML and validated with errors naming the field.

A network has detectors (id, name, coordinates, radios), directed links between them (length,
max_seconds, a speed profile over the day), the traffic demand over the day, where vehicles
enter and leave, the radios vehicles carry, and how many stop on the way. The example corridor
ships as sim/networks/corridor.yaml; see it for every field with a comment.

Profiles over the day are lists of [hour, value] points, linear in between and wrapping
around midnight, read in the network's local time (`utc_offset_hours`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roadside.agent.errors import AgentError
from roadside.agent.model import RadioKind
from roadside.common.config_layers import yaml_problem
from roadside.common.ids import valid_detector_id

EXAMPLE = "corridor.yaml"
DAY_S = 86_400.0


class NetworkError(AgentError):
    """The network file is missing, not YAML, or a field is wrong (the message names it)."""


@dataclass(frozen=True, slots=True)
class DayProfile:
    """A value over the day: [hour, value] points, linear in between, wrapping at midnight."""

    hours: tuple[float, ...]
    values: tuple[float, ...]

    def at(self, day_s: float) -> float:
        """The value at `day_s` seconds after local midnight."""
        hour = (day_s % DAY_S) / 3600.0
        i = bisect.bisect_right(self.hours, hour)
        h0, v0 = (self.hours[i - 1], self.values[i - 1]) if i > 0 else (
            self.hours[-1] - 24.0, self.values[-1])
        h1, v1 = (self.hours[i], self.values[i]) if i < len(self.hours) else (
            self.hours[0] + 24.0, self.values[0])
        if h1 == h0:
            return v0
        return v0 + (v1 - v0) * (hour - h0) / (h1 - h0)

    @property
    def maximum(self) -> float:
        return max(self.values)


@dataclass(frozen=True, slots=True)
class Detector:
    id: str
    name: str
    latitude: float
    longitude: float
    radios: tuple[RadioKind, ...]
    road_offset_m: float  # distance from the box to the lane it watches


@dataclass(frozen=True, slots=True)
class Link:
    src: str
    dest: str
    length_m: float
    max_seconds: int
    speed_kmh: DayProfile  # mean speed of traffic entering the link at that time
    road: tuple[float, ...] = ()  # longitude, latitude, ... of the road (maps); () = straight


@dataclass(frozen=True, slots=True)
class Route:
    """A named sequence of detectors whose consecutive pairs are links."""

    name: str
    detector_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RadioModel:
    """How one kind of radio shows up: who carries it, how often it transmits, who hears it."""

    kind: RadioKind
    share: float  # of vehicles carrying at least one such discoverable radio
    interval_s: float  # mean time between transmissions (probe bursts, adverts, inquiries)
    burst: int  # frames per transmission (WiFi probes go out on several channels)
    detection_probability: float  # a frame sent inside the zone is heard
    zone_radius_m: float  # frames from farther away are not heard
    tx_power_dbm: float
    randomized_share: float  # of such devices using rotating random addresses
    rotation_s: float  # mean lifetime of a random address


@dataclass(frozen=True, slots=True)
class Travellers:
    """People on bikes or on foot along the same links: heard like vehicles, never part of
    the truth (the traffic desk's travel times are the vehicles')."""

    kind: str  # cyclist, pedestrian
    per_hour: DayProfile
    speed_kmh: float
    speed_spread: float  # their speed factor: normal, mean 1, this standard deviation
    carry: Mapping[RadioKind, float]  # share carrying each radio (modelled as in `radios`)


@dataclass(frozen=True, slots=True)
class Stops:
    share: float  # of trips that stop on one link of the way
    min_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    utc_offset_hours: float
    detectors: tuple[Detector, ...]
    links: tuple[Link, ...]
    vehicles_per_hour: DayProfile
    entries: Mapping[str, float]  # detector id -> share of vehicles entering there
    exit_probability: Mapping[str, float]  # detector id -> chance to leave after it
    radios: tuple[RadioModel, ...]
    stops: Stops
    speed_spread: float  # drivers' speed factor: normal, mean 1, this standard deviation
    path_loss_exponent: float
    rssi_noise_db: float
    routes: tuple[Route, ...] = ()
    travellers: tuple[Travellers, ...] = ()

    def detector(self, detector_id: str) -> Detector:
        for d in self.detectors:
            if d.id == detector_id:
                return d
        raise KeyError(detector_id)

    def links_from(self, detector_id: str) -> list[Link]:
        return [link for link in self.links if link.src == detector_id]


def load_network(path: str | Path | None = None) -> Network:
    """Read and validate a network file; None loads the example corridor."""
    if path is None:
        text = resources.files("roadside.sim.networks").joinpath(EXAMPLE).read_text("utf-8")
        where = EXAMPLE
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise NetworkError(f"{path}: cannot read: {exc.strerror}") from exc
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NetworkError(f"{where}: not valid YAML: {yaml_problem(exc)}") from exc
    return parse_network(data, where)


def parse_network(data: Any, where: str = "network") -> Network:
    """Validate a parsed YAML document; NetworkError names the first wrong field."""
    top = _Fields(data, where)
    detectors = tuple(_detector(d, f"{where}: detectors[{i}]")
                      for i, d in enumerate(top.list("detectors", min_len=2)))
    ids = [d.id for d in detectors]
    for i, det_id in enumerate(ids):
        if ids.index(det_id) != i:
            raise NetworkError(f"{where}: detectors[{i}].id: duplicate id {det_id!r}")
    links = tuple(_link(item, f"{where}: links[{i}]", ids)
                  for i, item in enumerate(top.list("links", min_len=1)))
    pairs = [(link.src, link.dest) for link in links]
    for i, pair in enumerate(pairs):
        if pairs.index(pair) != i:
            raise NetworkError(f"{where}: links[{i}]: duplicate link {pair[0]} -> {pair[1]}")
    entries = _shares(top.mapping("entries"), f"{where}: entries", ids)
    if not entries or abs(sum(entries.values()) - 1.0) > 1e-6:
        raise NetworkError(f"{where}: entries: shares must add up to 1")
    for det_id in entries:
        if not any(link.src == det_id for link in links):
            raise NetworkError(f"{where}: entries.{det_id}: no link leaves this detector")
    exits = _shares(top.mapping("exit_probability", {}), f"{where}: exit_probability", ids)
    radios_raw = top.mapping("radios")
    radios = []
    for key, value in radios_raw.items():
        try:
            kind = RadioKind(str(key))
        except ValueError:
            choices = ", ".join(k.value for k in RadioKind)
            raise NetworkError(f"{where}: radios.{key}: expected one of {choices}") from None
        radios.append(_radio(kind, value, f"{where}: radios.{key}"))
    stops = _Fields(top.mapping("stops", {}), f"{where}: stops")
    stop = Stops(stops.number("share", 0.0, 0.0, 1.0), stops.number("min_s", 60.0, 0.0),
                 stops.number("max_s", 600.0, 0.0))
    if stop.max_s < stop.min_s:
        raise NetworkError(f"{where}: stops.max_s: must be at least min_s")
    routes = tuple(_route(name, item, f"{where}: routes.{name}", pairs)
                   for name, item in top.mapping("routes", {}).items())
    modelled = {r.kind for r in radios}
    travellers = tuple(_travellers(kind, item, f"{where}: travellers.{kind}", modelled)
                       for kind, item in top.mapping("travellers", {}).items())
    return Network(
        name=top.text("name", "network"),
        utc_offset_hours=top.number("utc_offset_hours", 0.0, -14.0, 14.0),
        detectors=detectors,
        links=links,
        vehicles_per_hour=_profile(top.get("vehicles_per_hour"), f"{where}: vehicles_per_hour"),
        entries=entries,
        exit_probability=exits,
        radios=tuple(radios),
        stops=stop,
        speed_spread=top.number("speed_spread", 0.08, 0.0, 0.5),
        path_loss_exponent=top.number("path_loss_exponent", 2.7, 1.5, 5.0),
        rssi_noise_db=top.number("rssi_noise_db", 4.0, 0.0, 20.0),
        routes=routes,
        travellers=travellers,
    )


class _Fields:
    """Typed access to one YAML mapping, raising NetworkError that names the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise NetworkError(f"{where}: expected a mapping")
        self.data = data
        self.where = where

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.data:
            if default is None:
                raise NetworkError(f"{self.where}.{key}: missing")
            return default
        return self.data[key]

    def number(self, key: str, default: float | None = None,
               low: float | None = None, high: float | None = None) -> float:
        raw = self.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise NetworkError(f"{self.where}.{key}: expected a number, got {raw!r}")
        if (low is not None and raw < low) or (high is not None and raw > high):
            raise NetworkError(f"{self.where}.{key}: {raw} is outside {low}..{high}")
        return float(raw)

    def text(self, key: str, default: str | None = None) -> str:
        raw = self.get(key, default)
        if not isinstance(raw, str) or not raw:
            raise NetworkError(f"{self.where}.{key}: expected text, got {raw!r}")
        return raw

    def list(self, key: str, min_len: int = 0) -> list[Any]:
        raw = self.get(key)
        if not isinstance(raw, list) or len(raw) < min_len:
            raise NetworkError(f"{self.where}.{key}: expected a list of at least {min_len}")
        return raw

    def mapping(self, key: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = self.get(key, default)
        if not isinstance(raw, dict):
            raise NetworkError(f"{self.where}.{key}: expected a mapping")
        return raw


def _detector(item: Any, where: str) -> Detector:
    f = _Fields(item, where)
    det_id = f.text("id")
    if not valid_detector_id(det_id):
        raise NetworkError(f"{where}.id: {det_id!r} is not [a-z0-9][a-z0-9_-]{{0,62}}")
    radios = []
    for i, name in enumerate(f.list("radios", min_len=1)):
        try:
            radios.append(RadioKind(str(name)))
        except ValueError:
            raise NetworkError(f"{where}.radios[{i}]: unknown radio {name!r}") from None
    return Detector(det_id, f.text("name", det_id), f.number("latitude", None, -90, 90),
                    f.number("longitude", None, -180, 180), tuple(radios),
                    f.number("road_offset_m", 8.0, 0.0, 200.0))


def _link(item: Any, where: str, ids: list[str]) -> Link:
    f = _Fields(item, where)
    src, dest = f.text("src"), f.text("dest")
    for key, value in (("src", src), ("dest", dest)):
        if value not in ids:
            raise NetworkError(f"{where}.{key}: unknown detector {value!r}")
    if src == dest:
        raise NetworkError(f"{where}.dest: a link needs two different detectors")
    speed = _profile(f.get("speed_kmh"), f"{where}.speed_kmh")
    if min(speed.values) <= 0:
        raise NetworkError(f"{where}.speed_kmh: speeds must be above 0")
    return Link(src, dest, f.number("length_m", None, 1.0, 200_000.0),
                int(f.number("max_seconds", None, 1.0)), speed, _road(f.get("road"), where))


def _road(item: Any, where: str) -> tuple[float, ...]:
    """A link's `road`: [[longitude, latitude], ...], two points at least; none: ()."""
    if item is None:
        return ()
    ok = isinstance(item, list) and len(item) >= 2 and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) for c in p)
        and -180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in item)
    if not ok:
        raise NetworkError(f"{where}.road: expected [[longitude, latitude], ...], two points "
                           "at least")
    return tuple(float(c) for p in item for c in p)


def _route(name: Any, item: Any, where: str, links: list[tuple[str, str]]) -> Route:
    if not isinstance(name, str) or not valid_detector_id(name):
        raise NetworkError(f"{where}: a route name is [a-z0-9][a-z0-9_-]{{0,62}}")
    if not isinstance(item, list) or len(item) < 2:
        raise NetworkError(f"{where}: expected a list of at least two detector ids")
    for i, pair in enumerate(itertools.pairwise(item)):
        if pair not in links:
            raise NetworkError(f"{where}[{i + 1}]: no link {pair[0]} -> {pair[1]}")
    return Route(name, tuple(str(x) for x in item))


def _radio(kind: RadioKind, item: Any, where: str) -> RadioModel:
    f = _Fields(item, where)
    return RadioModel(
        kind=kind,
        share=f.number("share", None, 0.0, 1.0),
        interval_s=f.number("interval_s", None, 0.01, 3600.0),
        burst=int(f.number("burst", 1, 1, 20)),
        detection_probability=f.number("detection_probability", None, 0.0, 1.0),
        zone_radius_m=f.number("zone_radius_m", None, 1.0, 2000.0),
        tx_power_dbm=f.number("tx_power_dbm", 0.0, -40.0, 30.0),
        randomized_share=f.number("randomized_share", 0.0, 0.0, 1.0),
        rotation_s=f.number("rotation_s", 900.0, 1.0),
    )


TRAVELLER_KINDS = ("cyclist", "pedestrian")


def _travellers(kind: Any, item: Any, where: str, modelled: set[RadioKind]) -> Travellers:
    if kind not in TRAVELLER_KINDS:
        raise NetworkError(f"{where}: expected one of {', '.join(TRAVELLER_KINDS)}")
    f = _Fields(item, where)
    carry: dict[RadioKind, float] = {}
    for key in f.mapping("carry"):
        try:
            radio = RadioKind(str(key))
        except ValueError:
            raise NetworkError(f"{where}.carry.{key}: unknown radio") from None
        if radio not in modelled:
            raise NetworkError(f"{where}.carry.{key}: not in radios (how it is heard)")
        carry[radio] = _Fields(f.mapping("carry"), f"{where}.carry").number(key, None, 0, 1)
    return Travellers(str(kind), _profile(f.get("per_hour"), f"{where}.per_hour"),
                      f.number("speed_kmh", None, 1.0, 60.0),
                      f.number("speed_spread", 0.15, 0.0, 0.5), carry)


def _profile(raw: Any, where: str) -> DayProfile:
    """A constant number, or a list of [hour, value] points in increasing hour order."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if raw < 0:
            raise NetworkError(f"{where}: must not be negative")
        return DayProfile((0.0,), (float(raw),))
    if not isinstance(raw, list) or not raw:
        raise NetworkError(f"{where}: expected a number or a list of [hour, value] points")
    hours: list[float] = []
    values: list[float] = []
    for i, point in enumerate(raw):
        ok = (isinstance(point, list) and len(point) == 2
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in point))
        if not ok:
            raise NetworkError(f"{where}[{i}]: expected [hour, value], got {point!r}")
        hour, value = float(point[0]), float(point[1])
        if not 0.0 <= hour < 24.0 or (hours and hour <= hours[-1]):
            raise NetworkError(f"{where}[{i}]: hours must increase within 0..24")
        if value < 0:
            raise NetworkError(f"{where}[{i}]: must not be negative")
        hours.append(hour)
        values.append(value)
    return DayProfile(tuple(hours), tuple(values))


def _shares(raw: dict[str, Any], where: str, ids: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in raw:
        if key not in ids:
            raise NetworkError(f"{where}.{key}: unknown detector")
        out[str(key)] = _Fields(raw, where).number(key, None, 0.0, 1.0)
    return out
