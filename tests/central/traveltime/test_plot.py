"""The travel-time chart: every window with figures gets its 10-90 % band."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from roadside.central.traveltime.model import Figures, WindowSummary
from roadside.central.traveltime.plot import BAND_COLOUR, Scale, plot_windows
from roadside.central.traveltime.reference import free_flow_s

S = 1_000_000_000
T0 = 1_790_000_000  # a window start (s)


def _window(start_s: int, figures: Figures | None) -> WindowSummary:
    return WindowSummary(src="a", dest="b", route="", window_start_ns=start_s * S,
                         window_end_ns=(start_s + 300) * S, count=9 if figures else 2,
                         suppressed=figures is None, figures=figures,
                         samples_s=(110.0, 120.0, 130.0) if figures else ())


def _band_pixels(png: Path) -> int:
    pixels = matplotlib.image.imread(png)[:, :, :3]
    rgb = np.array([int(BAND_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    on_white = 1 - 0.45 * (1 - rgb)  # the band's alpha over the white background
    return int((np.abs(pixels - on_white).sum(axis=2) < 0.03).sum())


def test_a_window_before_a_suppressed_one_keeps_its_band(tmp_path: Path) -> None:
    figures = Figures(median_s=120.0, p10_s=100.0, p25_s=110.0, p75_s=130.0, p90_s=140.0,
                      mad_s=8.0)
    png = plot_windows([_window(T0, figures), _window(T0 + 300, None)],
                       tmp_path / "ab.png", "a -> b")
    assert _band_pixels(png) > 2000, "no 10-90 % band drawn for the window with figures"
    # a window before a gap keeps its band too
    gap = plot_windows([_window(T0, figures), _window(T0 + 900, figures)],
                       tmp_path / "gap.png", "a -> b")
    assert _band_pixels(gap) > 4000


def test_free_flow_is_the_15th_percentile_of_window_medians_and_speed_uses_the_length() -> None:
    def median(m: float) -> WindowSummary:
        return _window(T0, Figures(m, m - 10, m - 5, m + 5, m + 10, 3.0))

    windows = [median(100.0 + n) for n in range(21)] + [_window(T0, None)]  # one suppressed
    assert free_flow_s(windows) == 103.0  # 100..120: rank 0.15 * 20 = 3
    assert free_flow_s(windows[:11]) is None  # too few windows to know
    assert Scale(1000.0)(120.0) == pytest.approx(30.0) and Scale(None)(120.0) == 2.0
    assert Scale(1000.0).label == "speed (km/h)"
