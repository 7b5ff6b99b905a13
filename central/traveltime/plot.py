"""A travel-time chart a traffic engineer recognises, as a PNG (matplotlib, Agg).

Samples as dots, the window median as a line, the 10-90 % band shaded, suppressed windows
marked, a free-flow reference line when known, local time along x and minutes up y (or,
with the road length, speed in km/h: the same figures through length / time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from roadside.central.traveltime.model import WindowSummary

NS_PER_S = 1_000_000_000
JITTER = 0.7  # samples spread over this fraction of their window's width
FEW_SAMPLES = 1500  # below this many dots, draw them bigger
MEDIAN_COLOUR = "#1f4e9c"
BAND_COLOUR = "#7aa6e0"
SAMPLE_COLOUR = "#555555"
SUPPRESSED_COLOUR = "#e8a0a0"
NO_DATA_COLOUR = "#bbbbbb"  # hatched: no device at all in the window
REFERENCE_COLOUR = "#2e8b57"
NORMAL_COLOUR = "#8e44ad"
class Scale:
    """Seconds of travel time -> the y axis: minutes, or km/h over a known length."""

    def __init__(self, length_m: float | None) -> None:
        self.length_m = length_m
        self.label = "speed (km/h)" if length_m else "travel time (minutes)"

    def text(self, seconds: float) -> str:
        """"2.05 min" or "60 km/h"."""
        return f"{self(seconds):.0f} km/h" if self.length_m else f"{self(seconds):.2f} min"

    def __call__(self, seconds: float) -> float:
        if self.length_m:
            return self.length_m / seconds * 3.6 if seconds > 0 else math.nan
        return seconds / 60


def _local(t_ns: int) -> datetime:
    return datetime.fromtimestamp(t_ns / NS_PER_S).astimezone()


def _x(t_ns: int) -> float:
    """matplotlib's date number of a time."""
    return float(mdates.date2num(_local(t_ns)))  # type: ignore[no-untyped-call]


def _spread(w: WindowSummary) -> list[float]:
    """x of each sample: spread evenly (golden ratio steps) around the window's middle."""
    mid = (w.window_start_ns + w.window_end_ns) // 2
    width = w.window_end_ns - w.window_start_ns
    if len(w.samples_s) == 1:
        return [_x(mid)]
    return [_x(int(mid + ((i * 0.618034) % 1.0 - 0.5) * JITTER * width))
            for i in range(len(w.samples_s))]


def _band(windows: Sequence[WindowSummary], y: Scale,
          ) -> tuple[list[float], list[float], list[float]]:
    """The 10-90 % band as flat pieces from each window's start to its end, NaN between
    windows without figures (a step fill would drop the window before a NaN)."""
    x: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    end = windows[0].window_start_ns
    for w in windows:
        f = w.figures
        if f is None or w.window_start_ns != end:  # no figures, or a gap before it
            x.append(_x(w.window_start_ns))
            lo.append(math.nan)
            hi.append(math.nan)
        end = w.window_end_ns
        if f is None:
            continue
        x.extend((_x(w.window_start_ns), _x(w.window_end_ns)))
        lo.extend((y(f.p10_s), y(f.p10_s)))
        hi.extend((y(f.p90_s), y(f.p90_s)))
    return x, lo, hi


def plot_windows(
    windows: Sequence[WindowSummary], path: Path, title: str,
    reference_s: float | None = None, length_m: float | None = None,
) -> Path:
    """Draw the windows (sorted by start) to `path`; returns it. `reference_s`: the
    free-flow travel time, drawn as a line; `length_m`: draw speeds, not times."""
    if not windows:
        raise ValueError("no windows to plot")
    y = Scale(length_m)
    windows = sorted(windows, key=lambda w: w.window_start_ns)
    tz = _local(windows[0].window_start_ns).tzinfo
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=120)
    try:
        edges: list[float] = []  # window starts (and the last end): the steps' x
        med: list[float] = []
        xs: list[float] = []
        ys: list[float] = []
        end = windows[0].window_start_ns
        for w in windows:
            if w.window_start_ns != end:  # a gap: no step across it
                edges.append(_x(end))
                med.append(math.nan)
            end = w.window_end_ns
            f = w.figures
            edges.append(_x(w.window_start_ns))
            med.append(y(f.median_s) if f else math.nan)
            xs.extend(_spread(w))
            ys.extend(y(sample) for sample in w.samples_s)
            if w.suppressed:
                ax.axvspan(_x(w.window_start_ns), _x(w.window_end_ns),
                           color=SUPPRESSED_COLOUR, alpha=0.35, linewidth=0)
            elif w.no_data:
                ax.axvspan(_x(w.window_start_ns), _x(w.window_end_ns), facecolor="none",
                           edgecolor=NO_DATA_COLOUR, hatch="//", linewidth=0)
        edges.append(_x(end))  # the last step ends with its window
        med.append(med[-1])
        if xs:
            few = len(xs) < FEW_SAMPLES  # bigger, darker dots when they do not crowd
            ax.scatter(xs, ys, s=14 if few else 5, color=SAMPLE_COLOUR,
                       alpha=0.6 if few else 0.3, linewidths=0, label="one device", zorder=1)
        # a window's figures hold across the window: steps from its start to its end
        band_x, band_lo, band_hi = _band(windows, y)
        ax.fill_between(band_x, band_lo, band_hi, color=BAND_COLOUR, alpha=0.45,
                        linewidth=0, label="10-90 % of devices", zorder=2)
        ax.plot(edges, med, drawstyle="steps-post", color=MEDIAN_COLOUR, linewidth=2.0,
                label="median per window", zorder=3)
        normals = [(w.window_start_ns, w.window_end_ns, w.normal_s) for w in windows
                   if w.normal_s]
        if normals:
            nx = [_x(t) for start, end, _v in normals for t in (start, end)]
            ny = [y(v) for _s, _e, v in normals for _t in (0, 1)]
            ax.plot(nx, ny, color=NORMAL_COLOUR, linewidth=1.6, linestyle=":",
                    label="normal (weekday, quarter hour)", zorder=2)
        if reference_s:
            ax.axhline(y(reference_s), color=REFERENCE_COLOUR, linestyle="--", linewidth=1.4,
                       label=f"free flow ({y.text(reference_s)})", zorder=2)
        handles, labels = ax.get_legend_handles_labels()
        suppressed = sum(1 for w in windows if w.suppressed)
        if suppressed:
            handles.append(Patch(color=SUPPRESSED_COLOUR, alpha=0.35))
            labels.append("suppressed: too few devices")
        if any(w.no_data for w in windows):
            handles.append(Patch(facecolor="none", edgecolor=NO_DATA_COLOUR, hatch="//"))
            labels.append("no data")
        ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=5,
                  frameon=False, fontsize=9, markerscale=2)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=tz))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(
            mdates.DateFormatter("%H:%M", tz=tz)  # type: ignore[no-untyped-call]
        )
        first = _local(windows[0].window_start_ns)
        last = _local(windows[-1].window_end_ns - NS_PER_S)
        ax.set_xlim(_x(windows[0].window_start_ns), _x(windows[-1].window_end_ns))
        ax.set_ylim(bottom=0)
        span = first.strftime("%a %d %b %Y")
        if last.date() != first.date():
            span += " - " + last.strftime("%a %d %b %Y")
        ax.set_xlabel(f"local time ({first.strftime('%Z')}), {span}")
        ax.set_ylabel(y.label)
        ax.set_title(title, loc="left", fontsize=12, fontweight="bold", pad=24)
        devices = sum(w.count for w in windows if not w.suppressed)
        width_min = (windows[0].window_end_ns - windows[0].window_start_ns) / NS_PER_S / 60
        ax.set_title(
            f"{len(windows)} windows of {width_min:g} min, {devices} devices, "
            f"{suppressed} suppressed",
            loc="right", fontsize=9, color="#444444", pad=24,
        )
        ax.grid(True, which="major", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        fig.tight_layout()
        description = y.label + (f", free flow {y.text(reference_s)}" if reference_s else "")
        fig.savefig(path, metadata={"Title": title, "Description": description})
    finally:
        plt.close(fig)
    return path
