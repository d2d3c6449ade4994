"""The pure functions behind the studio's charts: min/max down-sampling and parameter importance."""

from __future__ import annotations

import numpy as np
import pytest

from smdbg.studio._numbers import minmax_downsample, parameter_importance, rank


def test_downsample_keeps_extremes_and_bounds_the_count() -> None:
    x = np.arange(100_000, dtype=np.float64)
    y = np.sin(x / 1000.0)
    y[54_321] = 50.0  # a spike
    y[7_000] = -40.0
    xs, ys = minmax_downsample(x, y, 1000)
    assert len(xs) <= 1000 and len(xs) == len(ys)
    assert ys.max() == 50.0 and ys.min() == -40.0
    assert 54_321.0 in xs and 7_000.0 in xs
    assert np.all(np.diff(xs) > 0)  # still in x order
    same_x, same_y = minmax_downsample(x[:10], y[:10], 1000)
    assert np.array_equal(same_x, x[:10])
    assert np.array_equal(same_y, y[:10])


def test_downsample_keeps_all_nan_buckets_as_gaps() -> None:
    y = np.ones(1000)
    y[100:200] = np.nan
    xs, ys = minmax_downsample(np.arange(1000.0), y, 100)
    assert np.isnan(ys).any() and np.nanmax(ys) == 1.0


def test_rank_averages_ties() -> None:
    assert rank(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]


def test_importance_of_numeric_and_categorical_parameters() -> None:
    rng = np.random.default_rng(0)
    runs = []
    metric = []
    for i in range(60):
        lr = 10 ** rng.uniform(-5, -1)
        noise = rng.uniform()
        opt = ["sgd", "adam"][i % 2]
        runs.append({"lr": lr, "noise": noise, "opt": opt, "const": 1.0})
        metric.append(np.log10(lr) * 2 + (3.0 if opt == "adam" else 0.0) + rng.normal(scale=0.1))
    imp = parameter_importance(runs, metric)
    assert imp["lr"] > 0.6
    assert imp["opt"] > 0.4
    assert imp["noise"] < 0.35
    assert imp["const"] == 0.0
    # monotone in the parameter: importance 1 whatever the scale
    exact = parameter_importance([{"p": v} for v in (1e-5, 1e-3, 0.1, 10.0)], [4.0, 3.0, 2.0, 1.0])
    assert exact["p"] == pytest.approx(1.0)


def test_importance_needs_three_runs_and_finite_metrics() -> None:
    assert parameter_importance([{"a": 1.0}, {"a": 2.0}], [1.0, 2.0]) == {"a": 0.0}
    imp = parameter_importance([{"a": 1.0}, {"a": 2.0}, {"a": 3.0}, {"b": "x"}], [1.0, float("nan"), 3.0, 2.0])
    assert imp == {"a": 0.0, "b": 0.0}
