"""Robust summaries of travel-time samples: rejection rules, percentiles, MAD, the k rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from central.traveltime.model import REJECT_IMPLAUSIBLE, REJECT_OUTLIER, Figures

MAD_TO_SIGMA = 1.4826  # MAD * this estimates a normal distribution's standard deviation
MIN_SCALE_S = 2.0  # the outlier rule's scale never drops below this (identical samples)
MIN_SCALE_FRACTION = 0.03  # ... nor below this fraction of the median


@dataclass(frozen=True, slots=True)
class Rules:
    k: int = 5
    mad_threshold: float = 3.5
    max_speed_mps: float = 200.0 / 3.6


@dataclass(frozen=True, slots=True)
class Summary:
    count: int  # samples kept, also when suppressed
    kept: tuple[float, ...]  # sorted; empty when suppressed
    figures: Figures | None  # None when suppressed (fewer than k kept)
    rejections: dict[str, int]

    @property
    def suppressed(self) -> bool:
        return self.figures is None


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("quantile of no values")
    pos = q * (n - 1)
    lo = int(pos)
    if lo >= n - 1:
        return float(sorted_values[-1])
    frac = pos - lo
    return float(sorted_values[lo] + (sorted_values[lo + 1] - sorted_values[lo]) * frac)


def median_of_sorted(sorted_values: Sequence[float]) -> float:
    return quantile(sorted_values, 0.5)


def mad(values: Sequence[float], center: float) -> float:
    return median_of_sorted(sorted(abs(v - center) for v in values))


def plausible(samples: Sequence[float], length_m: float, rules: Rules) -> list[float]:
    """The samples not faster than the rules' max speed (all when the length is unknown)."""
    if length_m <= 0:
        return list(samples)
    fastest = length_m / rules.max_speed_mps
    return [s for s in samples if s >= fastest]


def summarise(
    samples: Sequence[float],
    neighbours: Sequence[float],
    length_m: float,
    rules: Rules,
) -> Summary:
    """Summarise one window's samples.

    `neighbours` are the plausible samples of the windows either side: the outlier rule's
    scale is the MAD of the window and its neighbours together, so a window of a few
    samples still gets a stable scale. Its centre is the window's own median (the pooled
    one when the window is small), so a real change in travel time is followed at once.
    """
    rejections: dict[str, int] = {}
    ok = plausible(samples, length_m, rules)
    if len(ok) < len(samples):
        rejections[REJECT_IMPLAUSIBLE] = len(samples) - len(ok)
    kept = sorted(ok)
    if kept:
        pooled = sorted([*kept, *neighbours])
        pooled_median = median_of_sorted(pooled)
        center = median_of_sorted(kept) if len(kept) >= rules.k else pooled_median
        scale = MAD_TO_SIGMA * mad(pooled, pooled_median)
        scale = max(scale, MIN_SCALE_S, MIN_SCALE_FRACTION * center)
        reach = rules.mad_threshold * scale
        inliers = [s for s in kept if abs(s - center) <= reach]
        if len(inliers) < len(kept):
            rejections[REJECT_OUTLIER] = len(kept) - len(inliers)
        kept = inliers
    if len(kept) < rules.k:
        return Summary(len(kept), (), None, rejections)
    med = median_of_sorted(kept)
    figures = Figures(
        median_s=med,
        p10_s=quantile(kept, 0.10),
        p25_s=quantile(kept, 0.25),
        p75_s=quantile(kept, 0.75),
        p90_s=quantile(kept, 0.90),
        mad_s=mad(kept, med),
    )
    return Summary(len(kept), tuple(kept), figures, rejections)
