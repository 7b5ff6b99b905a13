"""`make demo` (python -m roadside.sim.demo): the whole system on a simulated corridor.

1. starts `roadside central serve` (embedded etcd in a temporary directory, free ports)
   and a travel-time worker (`roadside central worker`);
2. simulates the example corridor into capture files and registers its detectors and links;
3. replays each detector's captures through its own `roadside agent replay --fast` process;
4. shows detectors and their status, events per detector, devices seen at several detectors,
   and the corridor's travel times (table, PNG, error against the simulator's truth);
5. fetches the city's desk feeds; in a terminal it then keeps central running and prints the
   dashboard's address until Ctrl-C (--short, --exit or no terminal: it stops at once).

The simulated period ends now, so the desk shows current figures. Everything it starts is
stopped and its temporary files removed on the way out, Ctrl-C included. Results stay in
demo-out/ (summary.json, truth, captures, PNGs, feeds, logs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from roadside.agent.privacy import generate_secret
from roadside.common.errors import RoadsideError
from roadside.common.timeparse import parse_duration
from roadside.sim import demo_report
from roadside.sim.network import load_network

STARTUP_TIMEOUT_S = 60.0  # for central to report that it serves
REPLAY_TIMEOUT_S = 600.0  # for every replay process to finish
TRAVEL_TIMES_TIMEOUT_S = 90.0  # for the worker to publish the corridor's windows
STOP_TIMEOUT_S = 15.0  # SIGTERM, then SIGKILL
POLL_S = 0.2
RUSH_LOCAL_H = 8.0  # the simulated city's local time when the demo runs
WORKER_GRACE_S = 5  # publish a window this soon after it closes (the demo's data is old)
BACKFILL_S = 2 * 86_400  # windows over the whole simulated period at once
HTTP = re.compile(r"HTTP feeds on (https?://\S+) ")
SERVING = re.compile(r"central serving: collector (\S+), query (\S+), health \S+; etcd (\S+),")


class DemoError(RoadsideError):
    """A step of the demo failed; the message names it and the log to read."""


class Children:
    """The processes the demo started; `stop_all` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: Sequence[str], stdout: int | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # closed below: the child has its copy
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "roadside.common.main", "--log-level", "info", *args],
                stdout=stdout if stdout is not None else log, stderr=log,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
                env={**os.environ, **(env or {})},
            )
        finally:
            log.close()
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m roadside.sim.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true",
                   help="a 25-minute simulated period, and exit when done (CI); default 90 "
                        "minutes; both end now")
    p.add_argument("--exit", action="store_true",
                   help="exit when done, also in a terminal (default there: keep central and "
                        "the dashboard running until Ctrl-C)")
    p.add_argument("--duration", help="simulated period, e.g. 45m (overrides --short)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help="results directory (default demo-out/)")
    args = p.parse_args(argv)
    duration = args.duration or ("25m" if args.short else "90m")
    stay = not (args.short or args.exit) and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        summary = run(args.out, duration, args.seed, stay)
    except RoadsideError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    print(f"\ndemo finished: {summary['out']}/summary.json")
    return 0


def run(out: Path, duration: str, seed: int, stay: bool = False) -> dict[str, Any]:
    for stale in ("captures", "logs", "plots"):
        shutil.rmtree(out / stale, ignore_errors=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="roadside-demo-"))
    children = Children(out / "logs")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        summary, desk = _run(out, tmp, children, duration, seed)
        if stay:
            _stay(desk)
        return summary
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _run(out: Path, tmp: Path, children: Children, duration: str, seed: int,
         ) -> tuple[dict[str, Any], list[str]]:
    started = time.monotonic()
    network_file = _in_the_rush_hour(tmp / "corridor.yaml")
    network = load_network(network_file)
    secret = tmp / "site.secret"
    generate_secret(secret)

    _step(1, "starting central (embedded etcd) and a travel-time worker")
    central = children.start("central", [
        "central", "serve", "--host", "127.0.0.1", "--collector-port", "0", "--query-port",
        "0", "--health-port", "0", "--data-dir", str(tmp / "etcd"),
        # etcd on any free port; the demo's own worker below (short grace, long backfill)
        "--embedded-etcd-port", "0", "--no-worker", "--http-port", "0",
        "--metrics-port", "0", "--enroll-port", "0",
    ])
    collector, query, etcd = _wait_serving(central, out / "logs" / "central.log")
    print(f"   collector {collector}, query {query}, etcd {etcd}")
    pki = tmp / "etcd" / "pki"  # serve made the site CA, its certificate and an admin's
    children.start("worker", ["central", "worker", "--etcd-endpoints", etcd,
                              "--metrics-port", "0",
                              "--grace-s", str(WORKER_GRACE_S), "--backfill-s", str(BACKFILL_S),
                              # etcd has TLS and auth: the worker is etcd user roadside
                              "--etcd-ca-file", str(pki / "ca.pem"),
                              "--etcd-cert-file", str(pki / "etcd-client.pem"),
                              "--etcd-key-file", str(pki / "etcd-client.key")])
    print(f"   mTLS from the site PKI serve made in {pki}: every caller has a certificate")
    for kind, name, *extra in [("operator", "demo-analyst", "--role", "analyst"),
                               *(("detector", d.id) for d in network.detectors)]:
        _check(children.start(f"pki-{name}", ["pki", "issue", kind, name, *extra,
                                              "--pki-dir", str(pki), "--etcd-endpoints", etcd]),
               f"pki-{name}", out, REPLAY_TIMEOUT_S)
    admin = _tls(pki, "operator-admin")

    _step(2, f"simulating the {network.name} ({len(network.detectors)} detectors, "
             f"{len(network.links)} links) for {duration} into capture files")
    captures, truth = out / "captures", out / "truth.json"
    start = _ending_now(parse_duration(duration))
    print(f"   from {start} until now")
    _check(children.start("sim", [
        "sim", "traffic", "--duration", duration, "--start", start, "--seed", str(seed),
        "--truth", str(truth),
        "--write-captures", str(captures), "--central", collector, "--no-agents",
        "--network", str(network_file),
        "--secret-file", str(secret), "--quiet",
    ], env=admin), "sim", out, REPLAY_TIMEOUT_S)

    _step(3, "replaying each detector's captures through its own agent process")
    replays = {}
    for d in network.detectors:
        files = sorted(str(f) for f in captures.glob(f"{d.id}.*.pcap"))
        replays[d.id] = children.start(f"replay-{d.id}", [
            "agent", "replay", "--detector", d.id, "--secret-file", str(secret),
            "--central", collector, "--fast", "--json", "--quiet", *files,
        ], stdout=subprocess.PIPE, env=_tls(pki, f"detector-{d.id}"))
    replayed = {}
    for det, proc in replays.items():
        stdout, _ = proc.communicate(timeout=REPLAY_TIMEOUT_S)
        _check(proc, f"replay-{det}", out, 0)
        replayed[det] = json.loads(stdout)
        r = replayed[det]
        print(f"   {det:<16} {r['frames_read']:>6} frames  {r['sightings']:>6} sightings  "
              f"{r['passes']:>5} passes  {r['uploaded']:>5} acknowledged")

    _step(4, "what an operator looks at first")
    os.environ.update(_tls(pki, "operator-demo-analyst"))  # the queries below, as an analyst
    report = demo_report.Report(query, out, network, json.loads(truth.read_text()))
    report.detectors()
    report.events()
    report.travel_times(TRAVEL_TIMES_TIMEOUT_S)
    _step(5, "the city's desk: the HTTP feeds")
    base, key = _feeds(out, pki, etcd, out / "logs" / "central.log")
    summary = report.summary(replayed, duration, seed, time.monotonic() - started)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    desk = [f"dashboard: {base}/dashboard/#key={key}",
            f"   its certificate is from the demo's own site CA ({pki / 'ca.pem'}): the "
            "browser asks once to accept it",
            f"   a query beside it: ROADSIDE_TLS_CA_FILE={pki / 'ca.pem'} "
            f"ROADSIDE_TLS_CERT_FILE={pki / 'operator-admin.pem'} "
            f"ROADSIDE_TLS_KEY_FILE={pki / 'operator-admin.key'} "
            f"roadside query travel-times --query-host {query} --from north-gate --to mill-bridge"]
    return summary, desk


def _stay(desk: list[str]) -> None:
    """Keep central, the worker and the dashboard running until Ctrl-C."""
    print("\n== central and the desk keep running; Ctrl-C stops them")
    print("\n".join(desk), flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("\nstopping central and the worker", flush=True)


def _feeds(out: Path, pki: Path, etcd: str, log: Path) -> tuple[str, str]:
    """An API key, then the JSON, DATEX II and GeoJSON feeds into out/feeds/."""
    found = HTTP.search(log.read_text(errors="replace"))
    if found is None:
        raise DemoError(f"central logged no HTTP feeds; see {log}")
    base = found.group(1)
    issued = subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "apikey", "issue", "demo-desk",
         "--role", "viewer", "--pki-dir", str(pki), "--etcd-endpoints", etcd],
        capture_output=True, text=True, timeout=REPLAY_TIMEOUT_S, check=False)
    if issued.returncode != 0:
        raise DemoError(f"apikey issue failed: {issued.stderr.strip()}")
    key = issued.stdout.strip()
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    (out / "feeds").mkdir(exist_ok=True)
    for name, path in (("travel-times.json", "/api/v1/travel-times"),
                       ("datex2-travel-times.xml", "/datex2/v3/travel-times.xml"),
                       ("network.geojson", "/api/v1/network.geojson")):
        request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=60, context=context) as reply:
            (out / "feeds" / name).write_bytes(reply.read())
    entries = json.loads((out / "feeds" / "travel-times.json").read_text())["entries"]
    for e in entries:
        c = e["current"] or {}
        value = f"{c['travel_time_s'] / 60:.2f} min" if c.get("travel_time_s") else "-"
        print(f"   {e['id']:<40} now: {c.get('state', 'no window'):<10} {value}")
    print(f"   {base}/api/v1/..., DATEX II, GeoJSON; saved in {out}/feeds/")
    return base, key


def _tls(pki: Path, name: str) -> dict[str, str]:
    """ROADSIDE_TLS_* for a child that calls central as the holder of `name`.pem."""
    return {"ROADSIDE_TLS_CA_FILE": str(pki / "ca.pem"),
            "ROADSIDE_TLS_CERT_FILE": str(pki / f"{name}.pem"),
            "ROADSIDE_TLS_KEY_FILE": str(pki / f"{name}.key")}


def _in_the_rush_hour(path: Path) -> Path:
    """The example corridor in a time zone where it is RUSH_LOCAL_H now (written to `path`):
    the demo ends now and should show a city at work, not one asleep, whenever it runs."""
    data = yaml.safe_load(resources.files("roadside.sim.networks")
                          .joinpath("corridor.yaml").read_text("utf-8"))
    now = datetime.now(UTC)
    hours = now.hour + now.minute / 60
    data["utc_offset_hours"] = round((((RUSH_LOCAL_H - hours) + 12) % 24 - 12) * 4) / 4
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    print(f"   the corridor's clock: {RUSH_LOCAL_H:g}:00 local now, its morning rush "
          f"(UTC{data['utc_offset_hours']:+g})")
    return path


def _ending_now(duration_s: float) -> str:
    """The start of a period of `duration_s` that ends now, RFC 3339 (whole seconds)."""
    start = datetime.now(UTC) - timedelta(seconds=duration_s)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def _step(n: int, text: str) -> None:
    print(f"\n== {n}/5 {text}", flush=True)


def _wait_serving(proc: subprocess.Popen[bytes], log: Path) -> tuple[str, str, str]:
    """Poll central's log for its 'serving' line (deadline-bounded)."""
    end = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < end:
        m = SERVING.search(log.read_text(errors="replace"))
        if m:
            return m.group(1), m.group(2), m.group(3)
        if proc.poll() is not None:
            raise DemoError(f"central exited with {proc.returncode}; see {log}")
        time.sleep(POLL_S)  # poll interval of a deadline-bounded wait
    raise DemoError(f"central did not start within {STARTUP_TIMEOUT_S:g} s; see {log}")


def _check(proc: subprocess.Popen[bytes], name: str, out: Path, timeout_s: float) -> None:
    try:
        code = proc.wait(timeout_s or None)
    except subprocess.TimeoutExpired:
        raise DemoError(f"{name} did not finish within {timeout_s:g} s; "
                        f"see {out}/logs/{name}.log") from None
    if code != 0:
        raise DemoError(f"{name} failed (exit {code}); see {out}/logs/{name}.log")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
