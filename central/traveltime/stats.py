"""Robust summaries of travel-time samples: rejection rules, percentiles, MAD, the k rule.

numpy does the arithmetic: a busy link's day is hundreds of thousands of samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roadside.central.traveltime.model import REJECT_IMPLAUSIBLE, REJECT_OUTLIER, Figures

MAD_TO_SIGMA = 1.4826  # MAD * this estimates a normal distribution's standard deviation
MIN_SCALE_S = 2.0  # the outlier rule's scale never drops below this (identical samples)
MIN_SCALE_FRACTION = 0.03  # ... nor below this fraction of the median
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)  # linear interpolation between closest ranks

Samples = npt.NDArray[np.float64]


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
    devices: int = 0  # distinct devices among the kept samples

    @property
    def suppressed(self) -> bool:
        return self.figures is None


def as_samples(values: Samples | Sequence[float]) -> Samples:
    return np.asarray(values, dtype=np.float64)


def plausible(samples: Samples | Sequence[float], length_m: float, rules: Rules) -> Samples:
    """The samples not faster than the rules' max speed (all when the length is unknown)."""
    x = as_samples(samples)
    if length_m <= 0:
        return x
    return x[x >= length_m / rules.max_speed_mps]


def summarise(
    samples: Samples | Sequence[float],
    neighbours: Samples | Sequence[float],
    length_m: float,
    rules: Rules,
    devices: Sequence[str] | None = None,
) -> Summary:
    """Summarise one window's samples.

    `neighbours` are the plausible samples of the windows either side: the outlier rule's
    scale is the MAD of the window and its neighbours together, so a window of a few
    samples still gets a stable scale. Its centre is the window's own median (the pooled
    one when the window is small), so a real change in travel time is followed at once.

    The k rule counts distinct devices (`devices[i]` made `samples[i]`; without them every
    sample counts as its own device): one device passing six times is still one device.
    """
    rejections: dict[str, int] = {}
    x = as_samples(samples)
    keep = np.ones(x.size, dtype=bool)
    if length_m > 0:
        keep &= x >= length_m / rules.max_speed_mps
    ok = x[keep]
    if ok.size < x.size:
        rejections[REJECT_IMPLAUSIBLE] = int(x.size - ok.size)
    kept = ok
    if ok.size:
        pooled = np.concatenate([ok, as_samples(neighbours)])
        pooled_median = float(np.median(pooled))
        center = float(np.median(ok)) if ok.size >= rules.k else pooled_median
        scale = MAD_TO_SIGMA * float(np.median(np.abs(pooled - pooled_median)))
        scale = max(scale, MIN_SCALE_S, MIN_SCALE_FRACTION * center)
        inlier = np.abs(x - center) <= rules.mad_threshold * scale
        kept = x[keep & inlier]
        if kept.size < ok.size:
            rejections[REJECT_OUTLIER] = int(ok.size - kept.size)
        keep &= inlier
    distinct = kept.size if devices is None else len(
        {d for d, k in zip(devices, keep.tolist(), strict=True) if k})
    if distinct < rules.k:
        return Summary(int(kept.size), (), None, rejections, distinct)
    kept = np.sort(kept)
    p10, p25, med, p75, p90 = (float(q) for q in np.quantile(kept, QUANTILES))
    mad = float(np.median(np.abs(kept - med)))
    figures = Figures(median_s=med, p10_s=p10, p25_s=p25, p75_s=p75, p90_s=p90, mad_s=mad)
    return Summary(int(kept.size), tuple(kept.tolist()), figures, rejections, distinct)
