"""Robust summaries of travel-time samples: rejection rules, percentiles, MAD, the k rule.

numpy does the arithmetic: a busy link's day is hundreds of thousands of samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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
    min_speed_mps: float = 0.0  # slower samples are not this link's travel (0: none)
    outlier: str = "robust"  # one of FILTERS

    def for_link(self, min_speed_kmh: float, max_speed_kmh: float, outlier: str) -> Rules:
        """These rules with a link's own settings (0 and "" keep the workers')."""
        return replace(self, min_speed_mps=min_speed_kmh / 3.6 or self.min_speed_mps,
                       max_speed_mps=max_speed_kmh / 3.6 or self.max_speed_mps,
                       outlier=outlier or self.outlier)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int  # samples kept, also when suppressed
    kept: tuple[float, ...]  # sorted; empty when suppressed
    figures: Figures | None  # None when suppressed (fewer than k kept)
    rejections: dict[str, int]
    devices: int = 0  # distinct devices among the kept samples
    kept_devices: tuple[str, ...] = ()  # who made the kept samples (when devices were given)

    @property
    def suppressed(self) -> bool:
        return self.figures is None


def as_samples(values: Samples | Sequence[float]) -> Samples:
    return np.asarray(values, dtype=np.float64)


def plausible(samples: Samples | Sequence[float], length_m: float, rules: Rules) -> Samples:
    """The samples within the rules' speeds (all when the length is unknown)."""
    x = as_samples(samples)
    return x[_plausible(x, length_m, rules)]


def _plausible(x: Samples, length_m: float, rules: Rules) -> npt.NDArray[np.bool_]:
    keep = np.ones(x.size, dtype=bool)
    if length_m > 0:
        keep &= x >= length_m / rules.max_speed_mps
        if rules.min_speed_mps > 0:
            keep &= x <= length_m / rules.min_speed_mps
    return keep


Filter = Callable[[Samples, npt.NDArray[np.bool_], Samples, Rules], npt.NDArray[np.bool_]]


def _robust(x: Samples, keep: npt.NDArray[np.bool_], neighbours: Samples,
            rules: Rules) -> npt.NDArray[np.bool_]:
    """The default: within mad_threshold scaled MADs of the window's median (the MAD of the
    window and its neighbours pooled, so a small window still gets a stable scale)."""
    ok = x[keep]
    pooled = np.concatenate([ok, neighbours])
    pooled_median = float(np.median(pooled))
    center = float(np.median(ok)) if ok.size >= rules.k else pooled_median
    scale = MAD_TO_SIGMA * float(np.median(np.abs(pooled - pooled_median)))
    scale = max(scale, MIN_SCALE_S, MIN_SCALE_FRACTION * center)
    return np.asarray(np.abs(x - center) <= rules.mad_threshold * scale)


def _previous(fraction: float) -> Filter:
    """AWAM's rule: a sample within +-fraction of the previous accepted one (in arrival
    order); the first is compared with the median of the neighbours (or of the window)."""

    def rule(x: Samples, keep: npt.NDArray[np.bool_], neighbours: Samples,
             rules: Rules) -> npt.NDArray[np.bool_]:
        seed = neighbours if neighbours.size else x[keep]
        ref = float(np.median(seed))
        out = np.zeros(x.size, dtype=bool)
        for i in np.flatnonzero(keep):
            if abs(x[i] - ref) <= fraction * ref:
                out[i] = True
                ref = float(x[i])
        return out

    return rule


def _iqr_last(n: int) -> Filter:
    """Within 1.5 IQR of the quartiles of the last n accepted samples (arrival order),
    starting from the neighbours'; the first few (fewer than 4 known) are accepted. The IQR
    is at least the robust rule's smallest scale (identical samples)."""

    def rule(x: Samples, keep: npt.NDArray[np.bool_], neighbours: Samples,
             rules: Rules) -> npt.NDArray[np.bool_]:
        history = list(neighbours[-n:])
        out = np.zeros(x.size, dtype=bool)
        for i in np.flatnonzero(keep):
            if len(history) >= 4:
                q1, med, q3 = np.quantile(history, (0.25, 0.5, 0.75))
                iqr = max(q3 - q1, MIN_SCALE_S, MIN_SCALE_FRACTION * med)  # as _robust's floor
                if not q1 - 1.5 * iqr <= x[i] <= q3 + 1.5 * iqr:
                    continue
            out[i] = True
            history = [*history, float(x[i])][-n:]
        return out

    return rule


def _percentiles(low: float, high: float) -> Filter:
    """Between the window's low and high percentiles (of its plausible samples)."""

    def rule(x: Samples, keep: npt.NDArray[np.bool_], neighbours: Samples,
             rules: Rules) -> npt.NDArray[np.bool_]:
        lo, hi = np.quantile(x[keep], (low, high))
        return np.asarray((x >= lo) & (x <= hi))

    return rule


# the outlier filters a link may choose (README: Per-link filters)
FILTERS: dict[str, Filter] = {
    "robust": _robust,
    "previous-25": _previous(0.25),
    "previous-45": _previous(0.45),
    "iqr-15": _iqr_last(15),
    "percentile-10-90": _percentiles(0.10, 0.90),
}


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
    keep = _plausible(x, length_m, rules)
    ok = x[keep]
    if ok.size < x.size:
        rejections[REJECT_IMPLAUSIBLE] = int(x.size - ok.size)
    kept = ok
    if ok.size:
        inlier = FILTERS[rules.outlier](x, keep, as_samples(neighbours), rules)
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
    who = () if devices is None else tuple(d for d, k in zip(devices, keep.tolist(),
                                                             strict=True) if k)
    return Summary(int(kept.size), tuple(kept.tolist()), figures, rejections, distinct, who)
