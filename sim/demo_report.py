"""What the demo shows once the data is in: asks central through the `roadside query` CLI
(as an operator would) and compares the corridor's travel times with the simulator's truth."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roadside.sim.network import Network

QUERY_TIMEOUT_S = 60.0  # one `roadside query` process
POLL_S = 1.0  # between looks at the published travel-time windows
NS = 1_000_000_000


def _roadside(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadside.common.main", "--log-level", "warning", *args],
        capture_output=capture, text=True, timeout=QUERY_TIMEOUT_S, check=False,
    )


class Report:
    def __init__(self, query: str, out: Path, network: Network, truth: dict[str, Any]) -> None:
        self.query = query
        self.out = out
        self.network = network
        self.truth = truth
        self.events_per_detector: dict[str, int] = {}
        self.devices_per_detector: dict[str, int] = {}
        self.multi_detector_devices = 0
        self.link_devices: dict[str, int] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.plots: list[str] = []
        (out / "plots").mkdir(parents=True, exist_ok=True)  # each link's and route's PNG

    def detectors(self) -> None:
        print("\n-- detectors (roadside query detectors)")
        _roadside("query", "detectors", "--query-host", self.query)
        print("\n-- agent status (roadside query status)")
        _roadside("query", "status", "--query-host", self.query)

    def events(self) -> None:
        done = _roadside("query", "events", "--query-host", self.query, "--format", "json",
                         capture=True)
        if done.returncode != 0:
            print(f"   events query failed: {done.stderr.strip()}")
            return
        per_det: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        for line in done.stdout.splitlines():
            if line.strip():
                event = json.loads(line)
                per_det[event["detector_id"]].add(event["device_id"])
                counts[event["detector_id"]] += 1
        self.events_per_detector = dict(counts)
        self.devices_per_detector = {d: len(ids) for d, ids in per_det.items()}
        seen_at: dict[str, int] = defaultdict(int)
        for ids in per_det.values():
            for device in ids:
                seen_at[device] += 1
        self.multi_detector_devices = sum(1 for n in seen_at.values() if n >= 2)
        print("\n-- events per detector (roadside query events --format json)")
        print(f"   {'detector':<16} {'events':>7} {'devices':>8}")
        for d in self.network.detectors:
            print(f"   {d.id:<16} {counts.get(d.id, 0):>7} {len(per_det.get(d.id, ())):>8}")
        print(f"   devices seen at two or more detectors: {self.multi_detector_devices}")
        for link in self.network.links:
            both = len(per_det[link.src] & per_det[link.dest])
            self.link_devices[f"{link.src}->{link.dest}"] = both
            print(f"   seen at {link.src} and {link.dest}: {both}")

    def travel_times(self, timeout_s: float) -> None:
        """Wait (bounded) for the worker's windows, then print them beside the truth."""
        if _roadside("query", "travel-times", "--help", capture=True).returncode != 0:
            print("\n-- travel times: `roadside query travel-times` is not in this build")
            return
        expected = self._expected_windows()
        end = time.monotonic() + timeout_s
        windows: dict[str, list[dict[str, Any]]] = {}
        while True:
            windows = {key: self.windows(query) for key, query, _ in self.targets()}
            ready = all(len(windows[k]) >= expected.get(k, 0) for k in windows)
            if ready or time.monotonic() > end:
                break
            time.sleep(POLL_S)  # poll interval of a deadline-bounded wait
        truth = self._truth_medians()
        for key, query, plot_name in self.targets():
            plot = self.out / "plots" / plot_name
            print(f"\n-- travel times {key} (roadside query {' '.join(query)})")
            _roadside("query", *query, *self._period(), "--query-host", self.query,
                      "--plot", str(plot))
            if plot.exists():
                self.plots.append(str(plot))
            self.links[key] = _accuracy(windows[key], truth.get(key, {}))
            a = self.links[key]
            err = "n/a" if a["median_abs_error_pct"] is None else \
                f"{a['median_abs_error_pct']:.1f} %"
            print(f"   windows {a['windows']} ({a['published']} published, "
                  f"{a['suppressed']} suppressed, {a['no_data']} with no data); median error "
                  f"against the truth: {err}")

    def summary(self, replayed: dict[str, Any], duration: str, seed: int,
                elapsed_s: float) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "duration": duration,
            "seed": seed,
            "elapsed_s": round(elapsed_s, 1),
            "detectors": [d.id for d in self.network.detectors],
            "replay": replayed,
            "events_per_detector": self.events_per_detector,
            "devices_per_detector": self.devices_per_detector,
            "devices_at_several_detectors": self.multi_detector_devices,
            "devices_per_link": self.link_devices,
            "travel_times": self.links,
            "plots": self.plots,
            "truth": {"vehicles": self.truth["vehicles"], "trips": len(self.truth["trips"])},
        }

    def targets(self) -> list[tuple[str, list[str], str]]:
        """(key, `roadside query` arguments, plot file) per link and per route."""
        out = [(f"{link.src}->{link.dest}", ["travel-times", "--from", link.src, "--to",
                                              link.dest], f"{link.src}--{link.dest}.png")
               for link in self.network.links]
        out += [(f"route {r.name}", ["route", r.name], f"route-{r.name}.png")
                for r in self.network.routes]
        return out

    def windows(self, query: list[str]) -> list[dict[str, Any]]:
        """The windows `roadside query QUERY --format json` prints for the period."""
        done = _roadside("query", *query, *self._period(), "--query-host", self.query,
                         "--format", "json", capture=True)
        if done.returncode != 0:
            return []
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    # --- inside ---------------------------------------------------------------

    def _period(self) -> list[str]:
        """--since and --until: the simulated period, RFC 3339."""
        start, end = (datetime.fromtimestamp(self.truth[k] // NS, UTC)
                      for k in ("start_ns", "end_ns"))
        return ["--since", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--until", end.strftime("%Y-%m-%dT%H:%M:%SZ")]

    def _expected_windows(self) -> dict[str, int]:
        """Windows that closed before the simulated period ended, per link and route."""
        out: dict[str, int] = defaultdict(int)
        end_s = self.truth["end_ns"] // NS
        for key, w in self._truth_windows():
            if w["window_start_s"] + self.truth["window_s"] <= end_s:
                out[key] += 1
        return out

    def _truth_medians(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = defaultdict(dict)
        for key, w in self._truth_windows():
            out[key][w["window_start_s"]] = w["median_s"]
        return out

    def _truth_windows(self) -> list[tuple[str, dict[str, Any]]]:
        links = [(f"{w['src']}->{w['dest']}", w) for w in self.truth["windows"]]
        return links + [(f"route {w['route']}", w) for w in self.truth.get("routes", [])]


def _accuracy(windows: list[dict[str, Any]], truth: dict[int, float]) -> dict[str, Any]:
    errors = []
    published = 0
    no_data = sum(1 for w in windows if w.get("no_data"))
    for w in windows:
        if w.get("no_data") or w.get("suppressed") or w.get("median_s") is None:
            continue
        published += 1
        true = truth.get(int(w["window_start_ns"]) // NS)
        if true:
            errors.append(abs(float(w["median_s"]) - true) / true * 100.0)
    return {
        "windows": len(windows),
        "published": published,
        "suppressed": len(windows) - published - no_data,  # as the table's "yes"
        "no_data": no_data,
        "median_abs_error_pct": round(statistics.median(errors), 2) if errors else None,
    }
