"""Travel times against the simulator's ground truth: the accuracy test, bench and README.

`simulated_passes` runs the simulator's corridor through the agent's own hashing, privacy
policy and pass building (no radios, no uplink), giving the passes central would store and
the truth file's windows; `accuracy` compares computed windows with that truth.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roadside.agent.config import AgentConfig
from roadside.agent.passes import PassBuilder, ulid_prefix, ulid_with
from roadside.agent.privacy import Action, DeviceHasher, PrivacyPolicy
from roadside.central.store.records import StoredPass
from roadside.central.traveltime import reports
from roadside.central.traveltime.model import Figures, WindowSummary
from roadside.sim import traffic
from roadside.sim.network import Network
from roadside.sim.truth import build_truth

TICK_NS = 5 * 1_000_000_000  # close silent passes this often (event time)
SLOWDOWN_FACTOR = 1.3  # a window this much slower than the free-flow median is congested


@dataclass(frozen=True, slots=True)
class Corridor:
    passes: list[StoredPass]
    truth: dict[str, Any]  # the simulator's truth document (sim/truth.py)


def simulated_passes(
    network: Network, start_ns: int, duration_s: float, seed: int, secret: bytes,
    config: AgentConfig | None = None,
) -> Corridor:
    cfg = config or AgentConfig()
    sim = traffic.simulate(network, start_ns, duration_s, seed)
    hasher = DeviceHasher.from_config(cfg, secret)
    policy = PrivacyPolicy.from_config(cfg)
    out: list[StoredPass] = []
    for detector_id, heard in sim.heard.items():
        builder = PassBuilder(detector_id, cfg.pass_gap_s, cfg.max_pass_s, cfg.timestamp)
        closed = []
        next_tick = 0
        for h in heard:
            s = h.sighting
            action = policy.action(s.address_kind)
            if action is Action.DROP:
                continue
            closed += builder.add(hasher.device_id(s.mac, s.t_ns), s.t_ns, s.rssi, s.radio,
                                  s.address_kind, action is Action.TAG,
                                  device_class=s.device_class)
            if s.t_ns >= next_tick:
                closed += builder.tick(s.t_ns)
                next_tick = s.t_ns + TICK_NS
        closed += builder.flush()
        prefix = ulid_prefix(detector_id)
        out.extend(
            StoredPass(detector_id, ulid_with(prefix, p.device_id, p.first_ns), p.device_id,
                       p.timestamp_ns, p.first_ns, p.last_ns, p.peak_ns, p.peak_rssi, p.count,
                       p.radio.value, p.address_kind.value, p.tagged,
                       device_class=p.device_class.value)
            for p in closed
        )
    truth = build_truth(network, sim, seed, lambda s: hasher.device_id(s.mac, s.t_ns))
    return Corridor(out, truth)


@dataclass(frozen=True, slots=True)
class LinkAccuracy:
    src: str
    dest: str
    compared: int  # windows with both a published median and a true one
    median_abs_error_s: float
    median_abs_error_pct: float  # of the true median, window by window
    slowdown_lag_windows: int | None  # windows between the true and measured onset


def accuracy(
    src: str, dest: str, windows: Sequence[WindowSummary], truth: dict[str, Any]
) -> LinkAccuracy:
    true_median = {
        int(w["window_start_s"]): float(w["median_s"])
        for w in truth["windows"] if w["src"] == src and w["dest"] == dest
    }
    errors_s, errors_pct = [], []
    measured: dict[int, float] = {}
    for w in windows:
        start = w.window_start_ns // 1_000_000_000
        if w.figures is None or start not in true_median:
            continue
        measured[start] = w.figures.median_s
        err = abs(w.figures.median_s - true_median[start])
        errors_s.append(err)
        errors_pct.append(100.0 * err / true_median[start])
    return LinkAccuracy(
        src, dest, len(errors_s),
        statistics.median(errors_s) if errors_s else float("nan"),
        statistics.median(errors_pct) if errors_pct else float("nan"),
        slowdown_lag(measured, true_median, int(truth["window_s"])),
    )


def slowdown_lag(
    measured: dict[int, float], true_median: dict[int, float], window_s: int
) -> int | None:
    """Windows from the first truly congested window to the first measured one.

    Congested: slower than SLOWDOWN_FACTOR times the free-flow median (the median of the
    first hour's true window medians). None when the truth shows no slowdown.
    """
    if not true_median:
        return None
    first = min(true_median)
    free = statistics.median(v for s, v in true_median.items() if s < first + 3600)
    slow = SLOWDOWN_FACTOR * free
    onset = next((s for s in sorted(true_median) if true_median[s] > slow), None)
    if onset is None:
        return None
    seen = next((s for s in sorted(measured) if s >= onset - window_s and measured[s] > slow),
                None)
    if seen is None:
        return 10**6
    return (seen - onset) // window_s


def reliability(src: str, dest: str, windows: Sequence[WindowSummary], truth: dict[str, Any]
                ) -> dict[str, tuple[float, float]]:
    """index -> (measured, true) of TTI, PTI, BI and the 95th percentile (s), by the
    reports' own SQL over the windows that have both a measured and a true median."""
    true_median = {int(w["window_start_s"]): float(w["median_s"])
                   for w in truth["windows"] if w["src"] == src and w["dest"] == dest}
    both = [w for w in windows
            if w.figures is not None and w.window_start_ns // 1_000_000_000 in true_median]
    truths = [dataclasses.replace(w, figures=Figures(*(
        [true_median[w.window_start_ns // 1_000_000_000]] * 5 + [0.0]))) for w in both]
    measured, true = (reports.reliability(reports.windows_table(ws, f"link/{src}/{dest}"))
                      for ws in (both, truths))
    if not measured or not true:
        return {}
    return {name: (float(measured[0][key]), float(true[0][key]))
            for name, key in (("TTI", "tti"), ("PTI", "pti"), ("BI", "bi"), ("95th", "p95_s"))}
