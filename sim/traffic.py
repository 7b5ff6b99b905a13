"""Simulated road traffic: vehicles drive the network and their radios are heard by detectors.

Deterministic for a seed: the arrivals come from random.Random(seed), and each vehicle's
radios from a generator seeded by (seed, vehicle), so one vehicle's frames do not depend on
the others. Vehicles enter as a Poisson process following `vehicles_per_hour`, follow links
(turning off with `exit_probability`), drive each link at the link's speed for the time they
enter it times their own speed factor, and some stop on one link. Each radio a vehicle
carries transmits every `interval_s` on average; a frame sent inside a detector's zone is
heard with `detection_probability`, its RSSI from log-distance path loss plus noise.
Randomized addresses rotate, so the same phone looks like several devices, as in real life.

The raw MACs made here are synthetic; they stay in RAM like any sighting's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from roadside.agent.model import AddressKind, DeviceClass, RadioKind, Sighting
from roadside.sim.network import DayProfile, Detector, Link, Network, RadioModel

NS = 1_000_000_000
SOURCE = "sim"
MAX_WARMUP_S = 3600.0
BURST_GAP_S = 0.02  # between the frames of one burst
PATH_LOSS_1M_DB = 40.0  # free-space loss at 1 m, 2.4 GHz
WIFI_CHANNELS = (1, 6, 11)
BLE_CHANNELS = (37, 38, 39)
# A few vendor OUIs for universally administered addresses.
VENDOR_OUIS = (b"\x00\x1a\x11", b"\x3c\x5a\xb4", b"\xf0\x99\xbf", b"\x28\x6c\x07", b"\xac\xde\x48")


@dataclass(frozen=True, slots=True)
class Passage:
    """A vehicle passing a detector (the moment it is closest to the box)."""

    vehicle: int
    detector: str
    t_ns: int
    speed_mps: float


@dataclass(frozen=True, slots=True)
class Trip:
    """One vehicle over one link: the true travel time between the two detectors."""

    vehicle: int
    src: str
    dest: str
    src_ns: int
    dest_ns: int
    stopped_s: float  # time spent stopped on the way (0 for most)

    @property
    def travel_s(self) -> float:
        return (self.dest_ns - self.src_ns) / NS


@dataclass(frozen=True, slots=True)
class Heard:
    """One heard frame and the vehicle that sent it (for the truth file)."""

    detector: str
    vehicle: int
    sighting: Sighting


@dataclass(slots=True)
class Simulation:
    """What a run produced: frames heard per detector (time order) and the true trips."""

    start_ns: int
    end_ns: int
    vehicles: int = 0
    heard: dict[str, list[Heard]] = field(default_factory=dict)
    trips: list[Trip] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)

    def sightings(self, detector_id: str) -> list[Sighting]:
        return [h.sighting for h in self.heard.get(detector_id, [])]

    @property
    def frames(self) -> int:
        return sum(len(v) for v in self.heard.values())


def simulate(
    network: Network,
    start_ns: int,
    duration_s: float,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Simulation:
    """Simulate the period [start, start + duration): frames and trips inside it are kept.

    Vehicles start entering a warm-up time earlier, so that the road is already full when
    the period starts. `progress(done, total)` is called as vehicles are simulated.
    """
    end_ns = start_ns + int(duration_s * NS)
    sim = Simulation(start_ns, end_ns, heard={d.id: [] for d in network.detectors})
    first_ns = start_ns - int(warmup_s(network) * NS)
    arrivals = list(_arrivals(network, first_ns, end_ns, random.Random(seed)))
    sim.vehicles = len(arrivals)
    for vehicle, (t_ns, entry) in enumerate(arrivals):
        rng = random.Random(f"{seed}:{vehicle}")
        passages, trips = _drive(network, vehicle, entry, t_ns, rng)
        sim.passages.extend(p for p in passages if start_ns <= p.t_ns < end_ns)
        sim.trips.extend(t for t in trips if start_ns <= t.src_ns and t.dest_ns < end_ns)
        for device in _carried(network, seed, rng):
            for passage in passages:
                _hear(network, sim, device, passage, vehicle, rng)
        if progress is not None and (vehicle % 200 == 0 or vehicle == len(arrivals) - 1):
            progress(vehicle + 1, len(arrivals))
    traveller = len(arrivals)  # their ids follow the vehicles'
    for group in network.travellers:
        rng_group = random.Random(f"{seed}:{group.kind}")
        for t_ns, entry in _arrivals(network, first_ns, end_ns, rng_group, group.per_hour):
            rng = random.Random(f"{seed}:{group.kind}:{traveller}")
            speed = group.speed_kmh / 3.6 * max(0.3, rng.gauss(1.0, group.speed_spread))
            passages, _trips = _drive(network, traveller, entry, t_ns, rng, speed)
            for device in _carried(network, seed, rng, group.carry, DeviceClass.PERSON):
                for passage in passages:
                    _hear(network, sim, device, passage, traveller, rng)
            traveller += 1
    for frames in sim.heard.values():
        frames.sort(key=lambda h: h.sighting.t_ns)
    sim.trips.sort(key=lambda t: (t.dest_ns, t.vehicle))
    return sim


def _hear(network: Network, sim: Simulation, device: Device, passage: Passage, who: int,
          rng: random.Random) -> None:
    """The frames the passage's detector hears of this device, kept inside the period."""
    detector = network.detector(passage.detector)
    if device.radio.kind not in detector.radios:
        return
    for sighting in _frames(network, device, detector, passage, rng):
        if sim.start_ns <= sighting.t_ns < sim.end_ns:
            sim.heard[detector.id].append(Heard(detector.id, who, sighting))


def warmup_s(network: Network) -> float:
    """Long enough to drive every link at its slowest, at most MAX_WARMUP_S."""
    total = sum(link.length_m / (min(link.speed_kmh.values) / 3.6) for link in network.links)
    return min(total, MAX_WARMUP_S)


def local_day_s(network: Network, t_ns: int) -> float:
    return (t_ns / NS + network.utc_offset_hours * 3600.0) % 86_400.0


def _arrivals(
    network: Network, start_ns: int, end_ns: int, rng: random.Random,
    per_hour: DayProfile | None = None,
) -> Iterator[tuple[int, str]]:
    """Entry times and detectors: a Poisson process with the day's rate (the vehicles', or
    `per_hour`), by thinning."""
    profile = per_hour or network.vehicles_per_hour
    peak = profile.maximum / 3600.0
    if peak <= 0:
        return
    entries = list(network.entries)
    weights = [network.entries[e] for e in entries]
    t = start_ns / NS
    while True:
        t += rng.expovariate(peak)
        if t * NS >= end_ns:
            return
        t_ns = int(t * NS)
        rate = profile.at(local_day_s(network, t_ns)) / 3600.0
        if rng.random() * peak <= rate:
            yield t_ns, rng.choices(entries, weights)[0]


def _drive(
    network: Network, vehicle: int, entry: str, t_ns: int, rng: random.Random,
    own_speed_mps: float = 0.0,
) -> tuple[list[Passage], list[Trip]]:
    """The detectors passed and the links driven; a cyclist or pedestrian keeps
    `own_speed_mps` (and does not stop) where a vehicle follows the link's traffic."""
    path: list[Link] = []
    here = entry
    while True:
        outgoing = network.links_from(here)
        if not outgoing or (path and rng.random() < network.exit_probability.get(here, 0.0)):
            break
        link = rng.choice(outgoing)
        if link in path:  # a loop in the network: stop rather than drive forever
            break
        path.append(link)
        here = link.dest
    factor = max(0.3, rng.gauss(1.0, network.speed_spread))
    stop_on = rng.randrange(len(path)) if path and rng.random() < network.stops.share else -1
    if own_speed_mps:
        stop_on = -1
    stop_s = rng.uniform(network.stops.min_s, network.stops.max_s) if stop_on >= 0 else 0.0
    passages: list[Passage] = []
    trips: list[Trip] = []
    speed = 0.0
    for i, link in enumerate(path):
        speed = own_speed_mps or link.speed_kmh.at(local_day_s(network, t_ns)) / 3.6 * factor
        passages.append(Passage(vehicle, link.src, t_ns, speed))
        stopped = stop_s if i == stop_on else 0.0
        arrive_ns = t_ns + int((link.length_m / speed + stopped) * NS)
        trips.append(Trip(vehicle, link.src, link.dest, t_ns, arrive_ns, stopped))
        t_ns = arrive_ns
    if path:
        passages.append(Passage(vehicle, path[-1].dest, t_ns, speed))
    return passages, trips


@dataclass(frozen=True, slots=True)
class Device:
    """One radio a vehicle carries; its addresses derive from `identity`."""

    radio: RadioModel
    seed: int
    identity: int
    randomized: bool
    device_class: DeviceClass = DeviceClass.UNKNOWN  # Bluetooth Classic: its Class of Device

    def address(self, t_s: float) -> tuple[bytes, AddressKind]:
        """The address at time t: fixed, or a random one per rotation period."""
        radio = self.radio
        epoch = 0
        if self.randomized:
            epoch = int((t_s + self.identity % int(radio.rotation_s)) // radio.rotation_s)
        gen = random.Random(f"{self.seed}:{radio.kind.value}:{self.identity}:{epoch}")
        tail = gen.randbytes(5)
        if radio.kind is RadioKind.WIFI:
            if self.randomized:  # locally administered, unicast
                first = (gen.getrandbits(8) | 0x02) & 0xFE
                return bytes([first]) + tail, AddressKind.WIFI_LOCAL
            return gen.choice(VENDOR_OUIS) + tail[:3], AddressKind.WIFI_GLOBAL
        if radio.kind is RadioKind.BLE:
            if self.randomized:  # resolvable private: the two top bits are 01
                return bytes([0x40 | gen.getrandbits(6)]) + tail, AddressKind.BLE_RESOLVABLE
            if self.identity % 2:  # random static: the two top bits are 11
                return bytes([0xC0 | gen.getrandbits(6)]) + tail, AddressKind.BLE_RANDOM_STATIC
            return gen.choice(VENDOR_OUIS) + tail[:3], AddressKind.BLE_PUBLIC
        if radio.kind is RadioKind.BT_CLASSIC:  # a BD_ADDR: public, never rotated
            return gen.choice(VENDOR_OUIS) + tail[:3], AddressKind.BT_BREDR
        return gen.choice(VENDOR_OUIS) + tail[:3], AddressKind.UNKNOWN


def _carried(network: Network, seed: int, rng: random.Random,
             shares: Mapping[RadioKind, float] | None = None,
             classic: DeviceClass = DeviceClass.VEHICLE) -> list[Device]:
    """The radios one vehicle (or traveller, with its `shares`) carries; a Bluetooth
    Classic one is a car kit in a vehicle, a phone or headset with a traveller."""
    devices = []
    for radio in network.radios:
        share = radio.share if shares is None else shares.get(radio.kind, 0.0)
        if rng.random() < share:
            randomized = rng.random() < radio.randomized_share
            device_class = classic if radio.kind is RadioKind.BT_CLASSIC else DeviceClass.UNKNOWN
            devices.append(Device(radio, seed, rng.getrandbits(48), randomized, device_class))
    return devices


def _frames(
    network: Network,
    device: Device,
    detector: Detector,
    passage: Passage,
    rng: random.Random,
) -> Iterator[Sighting]:
    """The frames this radio sends while in the detector's zone that the detector hears."""
    radio = device.radio
    offset = detector.road_offset_m
    if offset >= radio.zone_radius_m:
        return
    half_s = math.sqrt(radio.zone_radius_m**2 - offset**2) / passage.speed_mps
    center = passage.t_ns / NS
    t = center - half_s + rng.uniform(0.0, radio.interval_s)
    while t <= center + half_s:
        for k in range(radio.burst):
            tf = t + k * BURST_GAP_S
            if rng.random() >= radio.detection_probability:
                continue
            distance = math.hypot(passage.speed_mps * (tf - center), offset)
            rssi = (radio.tx_power_dbm - PATH_LOSS_1M_DB
                    - 10.0 * network.path_loss_exponent * math.log10(max(distance, 1.0))
                    + rng.gauss(0.0, network.rssi_noise_db))
            mac, kind = device.address(tf)
            yield Sighting(
                mac=mac,
                t_ns=round(tf * 1_000_000) * 1000,  # whole microseconds, as pcap keeps
                rssi=max(-127, min(20, round(rssi))),
                radio=radio.kind,
                address_kind=kind,
                source=SOURCE,
                channel=_channel(radio.kind, k, rng),
                device_class=device.device_class,
            )
        t += radio.interval_s * rng.uniform(0.5, 1.5)


def _channel(kind: RadioKind, k: int, rng: random.Random) -> int | None:
    if kind is RadioKind.WIFI:
        return WIFI_CHANNELS[k % len(WIFI_CHANNELS)]
    if kind is RadioKind.BLE:
        return rng.choice(BLE_CHANNELS)
    return None
