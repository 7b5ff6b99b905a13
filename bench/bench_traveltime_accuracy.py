"""Travel-time accuracy over a simulated day on the example corridor, and the README charts.

The simulator's corridor (morning and evening rush hours, vehicles that stop on the way)
goes through the agent's hashing and pass building into a real etcd; the engine computes
every 5-minute window of each link and of the whole route. Printed per link: the window
medians' median absolute error against the truth file, and how many windows after the
true onset the morning slowdown shows. Baseline, same run, same samples: a plain mean of
the matched samples (no robust statistics, no rejection).

    .venv/bin/python bench/bench_traveltime_accuracy.py [--hours 24] [--seed 7] [--out DIR]

The charts go to var/bench/traveltime; `make screenshots` draws the docs' own (--out
docs/traveltime --reports-out docs/reports).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import corridor

from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.etcd_store import EtcdStore
from roadside.central.store.records import LinkRecord, RouteRecord
from roadside.central.traveltime import engine, report_plot, reports, stats, store
from roadside.central.traveltime.model import Figures, WindowSummary
from roadside.central.traveltime.plot import plot_windows
from roadside.sim.network import load_network

ROOT = Path(__file__).resolve().parent.parent
NS = "accuracy"
W = 300
SECRET = b"bench-site-secret-for-the-corridor!"
RELIABILITY_TARGET_PCT = 5.0


def as_mean(w: WindowSummary, raw: list[float]) -> WindowSummary:
    """The window as a naive system would publish it: the mean of every matched sample."""
    if not raw:
        return w
    mean = statistics.fmean(raw)
    return WindowSummary(w.src, w.dest, w.route, w.window_start_ns, w.window_end_ns,
                         len(raw), False, Figures(mean, mean, mean, mean, mean, 0.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    ap.add_argument("--start-hour", type=float, default=0.0,
                    help="local hour the simulation starts at (default 0: midnight)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--zone", default="UTC",
                    help="the site's clock of the report pictures (default UTC: the example's)")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "traveltime",
                    help="where the PNG charts go (default var/bench/traveltime)")
    ap.add_argument("--reports-out", type=Path,
                    help="where the first link's report pictures go (default: --out)")
    args = ap.parse_args()
    network = load_network()
    # yesterday from midnight, local to the network: recent enough for retention leases
    yesterday = datetime.fromtimestamp(time.time() - 86_400, UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    day = yesterday.timestamp() - network.utc_offset_hours * 3600
    start_ns = int((day + args.start_hour * 3600) * 1e9)
    t0 = time.perf_counter()
    print(f"simulating {args.hours:g} h of the {network.name} corridor (seed {args.seed}) ...",
          flush=True)
    sim = corridor.simulated_passes(network, start_ns, args.hours * 3600, args.seed, SECRET)
    print(f"  {sim.truth['vehicles']} vehicles, {len(sim.passes)} passes "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess(Path(tmp) / "etcd")
        etcd.start()
        client = connect([etcd.endpoint])
        try:
            central = EtcdStore(client, NS)
            for link in network.links:
                central.set_links(link.dest, [
                    LinkRecord(link.src, link.dest, int(link.max_seconds), link.length_m)])
            central.set_route(RouteRecord("corridor", tuple(d.id for d in network.detectors)))
            for i in range(0, len(sim.passes), 5000):
                central.put_passes(sim.passes[i:i + 5000])
            report(client, args, start_ns, sim)
        finally:
            client.close()
            etcd.stop()
    return 0


def _report_pictures(computed: list[WindowSummary], path: str, out: Path, zone: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table = reports.windows_table(computed, path)
    for name, rows in (("reliability", reports.reliability(table, "day", zone)),
                       ("profile", reports.profile(table, zone))):
        png = out / f"report-{name}.png"
        report_plot.plot(name, rows, png)
        print(f"  {name} report of {path}: {_shown(png)}")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def report(client: store.EtcdClient, args: argparse.Namespace, start_ns: int,
           sim: corridor.Corridor) -> None:
    first = start_ns // 1_000_000_000
    starts = list(range(first, first + int(args.hours * 3600), W))
    rules = stats.Rules()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"\n{'link':34} {'windows':>7} {'error (median)':>15} {'error (mean)':>13} "
          f"{'slowdown lag':>13}")
    reliability: list[tuple[str, dict[str, tuple[float, float]]]] = []
    for target in store.all_targets(client, NS, 1800):
        computed = engine.compute_windows(client, NS, target, starts, W, rules)
        name = f"{target.src}--{target.dest}" if not target.route else f"route-{target.route}"
        png = plot_windows(computed, args.out / f"{name}.png",
                           f"Travel time {target.label().replace('->', chr(0x2192))}")
        if target.route:
            kept = sum(w.count for w in computed)
            print(f"{target.label():34} {len(computed):7d}  ({kept} devices along the "
                  f"whole route)  chart: {_shown(png)}")
            continue
        loose = stats.Rules(k=1, mad_threshold=1e9)
        raw = engine.compute_windows(client, NS, target, starts, W, loose)
        naive = [as_mean(w, list(r.samples_s)) for w, r in zip(computed, raw, strict=True)]
        ours = corridor.accuracy(target.src, target.dest, computed, sim.truth)
        base = corridor.accuracy(target.src, target.dest, naive, sim.truth)
        lag = "-" if ours.slowdown_lag_windows is None else f"{ours.slowdown_lag_windows} windows"
        print(f"{target.label():34} {ours.compared:7d} {ours.median_abs_error_pct:13.2f} % "
              f"{base.median_abs_error_pct:11.2f} % {lag:>13}   chart: {_shown(png)}")
        reliability.append((target.label(), corridor.reliability(
            target.src, target.dest, computed, sim.truth)))
        if len(reliability) == 1:  # the first link's reports of the simulated period
            _report_pictures(computed, target.path, args.reports_out or args.out, args.zone)
    print(f"\nreliability over the windows with a measured and a true median (free flow: the "
          f"15th percentile of each); target: within {RELIABILITY_TARGET_PCT:g} % of the truth")
    print(f"{'link':34} {'index':>6} {'measured':>9} {'truth':>9} {'error':>8}")
    worst = 0.0
    for label, indices in reliability:
        for name, (measured, true) in indices.items():
            err = 100 * abs(measured - true) / true if true else float("nan")
            worst = max(worst, err)
            print(f"{label:34} {name:>6} {measured:9.3f} {true:9.3f} {err:7.2f} %")
    print(f"target reliability indices within {RELIABILITY_TARGET_PCT:g} % of the truth: "
          f"{'meets' if worst <= RELIABILITY_TARGET_PCT else 'MISSES'} (worst {worst:.2f} %)")


if __name__ == "__main__":
    sys.exit(main())
