"""Robust statistics: percentiles, rejection reasons, the k rule."""

import pytest

from roadside.central.traveltime.stats import Rules, summarise

RULES = Rules(k=5, mad_threshold=3.5, max_speed_mps=200 / 3.6)


def test_summary_figures() -> None:
    summary = summarise([100.0, 110.0, 120.0, 130.0, 140.0], [], 0.0, RULES)
    assert summary.figures is not None
    assert summary.count == 5
    assert summary.figures.median_s == 120.0
    assert summary.figures.p10_s == pytest.approx(104.0)
    assert summary.figures.p90_s == pytest.approx(136.0)
    assert summary.figures.mad_s == 10.0
    assert summary.rejections == {}


def test_fewer_than_k_samples_are_suppressed_with_no_figures() -> None:
    summary = summarise([100.0, 101.0, 102.0, 103.0], [], 0.0, RULES)
    assert summary.suppressed and summary.figures is None and summary.kept == ()
    assert summary.count == 4
    assert not summarise([100.0, 101.0, 102.0, 103.0, 104.0], [], 0.0, RULES).suppressed


def test_stopping_vehicle_is_rejected_as_outlier() -> None:
    samples = [118.0, 120.0, 121.0, 119.0, 122.0, 125.0, 117.0, 560.0]  # one stopped for coffee
    summary = summarise(samples, [120.0, 121.0, 119.0], 0.0, RULES)
    assert summary.rejections == {"outlier": 1}
    assert 560.0 not in summary.kept
    assert summary.figures is not None and summary.figures.median_s == 120.0


def test_neighbours_give_the_scale_for_a_small_window() -> None:
    # five samples, one of them far off; neighbours show how wide travel times really are
    wide = [60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0] * 3
    samples = [126.0, 129.0, 131.0, 134.0, 300.0]
    assert summarise(samples, wide, 0.0, RULES).rejections == {}
    narrow = [128.0, 130.0, 132.0] * 7
    assert summarise(samples, narrow, 0.0, RULES).rejections == {"outlier": 1}


def test_faster_than_plausible_over_a_known_length_is_rejected() -> None:
    # 2 km: at 200 km/h that takes 36 s; a 20 s sample means a wrong match
    samples = [20.0, 120.0, 121.0, 122.0, 123.0, 124.0]
    summary = summarise(samples, [], 2000.0, RULES)
    assert summary.rejections == {"implausible_speed": 1}
    assert summary.count == 5
    # with the length unknown the rule cannot apply; the MAD rule catches it instead
    assert "implausible_speed" not in summarise(samples, [], 0.0, RULES).rejections
