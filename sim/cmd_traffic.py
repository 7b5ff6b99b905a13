"""`roadside sim traffic`: simulate a road network's traffic through real agent pipelines.

Simulates vehicles on the network (sim/traffic.py), writes the truth file, optionally
writes what each detector hears as pcap files, and with --central registers the detectors
and links there and drives one agent pipeline per detector (hashing, passes, disk buffer,
uplink) until central has acknowledged every pass.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from roadside.agent.commands.parts import ProgressLine, subcommand
from roadside.agent.config import AgentConfig
from roadside.agent.laptop import local_settings, with_laptop_tls
from roadside.agent.model import AddressKind, Sighting
from roadside.agent.privacy import DeviceHasher, PrivacyPolicy, generate_secret, load_secret
from roadside.agent.runner import Progress
from roadside.common.config_layers import ConfigError, load
from roadside.common.timeparse import parse_duration, parse_time
from roadside.sim import capwriter, feed, register, traffic
from roadside.sim.laptop_pki import detector_pki
from roadside.sim.network import load_network
from roadside.sim.truth import build_truth, write_truth


def add_parser(sub: Any) -> None:
    p = subcommand(sub, "traffic", __doc__, run,
                   "simulate traffic on a road network through real agent pipelines")
    p.epilog = ("examples:\n  roadside sim traffic --duration 30m --seed 7 --truth truth.json "
                "--central\n  roadside sim traffic --duration 20m --truth truth.json "
                "--write-captures captures")
    p.add_argument("--network", type=Path, metavar="FILE",
                   help="road network YAML (default: the example corridor shipped with roadside)")
    p.add_argument("--duration", default="2h", help="simulated period, e.g. 30m, 2h (default 2h)")
    p.add_argument("--start", metavar="TIME",
                   help="start of the period: RFC 3339 or relative (2h = two hours ago); "
                        "default: the period ends now")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1): same seed, "
                   "same traffic")
    p.add_argument("--central", action="append", metavar="HOST:PORT", nargs="?", const="",
                   help="collector endpoint: register the network there and upload through "
                        "one agent pipeline per detector (repeat for fail-over); alone: the "
                        "configured central, else the laptop central serving here")
    p.add_argument("--truth", type=Path, required=True, metavar="FILE",
                   help="write the true travel times, window medians and detections here (JSON)")
    p.add_argument("--write-captures", type=Path, metavar="DIR",
                   help="write what each detector hears as pcap files (ID.wifi.pcap, ID.ble.pcap)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="agent settings YAML (privacy policy, passes, TLS); ROADSIDE_* apply too")
    p.add_argument("--secret-file", type=Path, metavar="FILE",
                   help="site secret shared by the simulated detectors (created when missing); "
                        "default: a throw-away secret")
    p.add_argument("--state-dir", type=Path, metavar="DIR",
                   help="where the agents keep their buffers (default: a temporary directory)")
    p.add_argument("--pki-dir", type=Path, metavar="DIR",
                   help="each simulated detector calls with DIR/detector-ID.pem and .key and "
                        "trusts DIR/ca.pem (`roadside pki issue detector ID` writes them); "
                        "registering uses the TLS settings of --config or ROADSIDE_TLS_* "
                        "(an admin's)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="plaintext, to a development central started with --insecure")
    p.add_argument("--no-register", action="store_true",
                   help="do not register detectors and links at central")
    p.add_argument("--no-agents", action="store_true",
                   help="with --central: only register the network (replay the captures later)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    duration_s = parse_duration(args.duration)
    if not args.truth.parent.is_dir():  # before the simulation, not after it
        raise ConfigError(f"--truth {args.truth}: no directory {args.truth.parent}")
    now_ns = time.time_ns()
    if args.start is None:
        start_ns = (now_ns - int(duration_s * 1e9)) // 10**9 * 10**9
    else:
        start_ns = parse_time(args.start, "--start", now_ns)
    network = load_network(args.network)
    named = tuple(c for c in args.central or () if c)
    flags: dict[str, Any] = {"central": named or None,
                             "secret_file": args.secret_file, "insecure": args.insecure}
    config = load(AgentConfig, args.config, os.environ, flags, section="agent",
                  local=local_settings())
    with ProgressLine(enabled=not args.quiet) as line:
        return _run(args, network, config, start_ns, duration_s, line)


def _run(args: argparse.Namespace, network: Any, config: AgentConfig, start_ns: int,
         duration_s: float, line: ProgressLine) -> int:
    secret = _secret(args.secret_file)
    sim = traffic.simulate(
        network, start_ns, duration_s, args.seed,
        progress=lambda done, total: line.update("simulate", done, total,
                                                 f"{done}/{total} vehicles"),
    )
    line.finish("simulate", 1, 1, f"{sim.vehicles} vehicles, {len(sim.trips)} trips, "
                                  f"{sim.frames} frames heard")
    hasher = DeviceHasher.from_config(config, secret)
    policy = PrivacyPolicy.from_config(config)
    truth = build_truth(network, sim, args.seed,
                        lambda s: hasher.device_id(s.mac, s.t_ns),
                        lambda kind: policy.action(AddressKind(kind)).value)
    try:
        write_truth(args.truth, truth)
    except OSError as exc:
        raise ConfigError(f"--truth {args.truth}: cannot write: {exc.strerror}") from exc
    print(f"truth: {args.truth} ({len(truth['trips'])} trips, "
          f"{len(truth['windows'])} link windows)")

    if args.write_captures is not None:
        _write_captures(args.write_captures, network.detectors, sim)

    if config.central and args.central:
        endpoint = config.central[0]
        if not args.no_register:  # an admin's call: on a laptop, its admin certificate
            admin = with_laptop_tls(config, "operator-admin")
            asyncio.run(register.register_network(network, endpoint, admin))
            print(f"registered {len(network.detectors)} detectors and "
                  f"{len(network.links)} links at {endpoint}")
        if not args.no_agents:
            final = _drive(args, network, config, secret, sim, line)
            _print_summary(sim, final)
    return 0


def _secret(path: Path | None) -> bytes:
    if path is None:
        return secrets.token_hex(32).encode()
    if not path.exists():
        generate_secret(path)
        print(f"created site secret {path}", file=sys.stderr)
    return load_secret(path)


def _write_captures(out: Path, detectors: Any, sim: traffic.Simulation) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = capwriter.CaptureSummary()
    for d in detectors:
        capwriter.write_detector(out, d.id, sim.sightings(d.id), summary)
    for path, frames in sorted(summary.files.items()):
        print(f"capture: {path} ({frames} frames)")
    for reason, n in summary.skipped.items():
        print(f"capture: not written: {n} frames ({reason})")


def _drive(args: argparse.Namespace, network: Any, config: AgentConfig, secret: bytes,
           sim: traffic.Simulation, line: ProgressLine) -> dict[str, Progress]:
    total = sim.frames

    def bar(figures: dict[str, Progress]) -> tuple[str, int, int, str]:
        seen = sum(p.sightings + p.dropped_by_policy for p in figures.values())
        passes = sum(p.passes for p in figures.values())
        backlog = sum(p.backlog for p in figures.values())
        detail = f"{seen}/{total} sightings  {passes} passes  backlog {backlog}"
        return "agents", seen, total, detail

    def sightings(detector_id: str) -> list[Sighting]:
        return sim.sightings(detector_id)

    with tempfile.TemporaryDirectory(prefix="roadside-sim-") as tmp:
        root = args.state_dir or Path(tmp)
        pki_dir = args.pki_dir
        if pki_dir is None and not config.insecure and config.tls_ca_file is None:
            pki_dir = detector_pki([d.id for d in network.detectors])
        configs = [feed.detector_config(config, network, d.id, root, pki_dir)
                   for d in network.detectors]
        final = asyncio.run(feed.run_agents(configs, sightings, secret,
                                            lambda figures: line.update(*bar(figures))))
    label, seen, _, detail = bar(final)
    line.finish(label, seen, total, detail + "  done")
    return final


def _print_summary(sim: traffic.Simulation, final: dict[str, Progress]) -> None:
    print(f"{'detector':<20} {'frames':>8} {'hashed':>8} {'dropped':>8} {'passes':>8} "
          f"{'acked':>8}")
    for det, p in final.items():
        print(f"{det:<20} {len(sim.heard.get(det, [])):>8} {p.sightings:>8} "
              f"{p.dropped_by_policy:>8} {p.passes:>8} {p.acknowledged:>8}")
