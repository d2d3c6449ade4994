"""The debugger pages' data functions over real trials written by a real PyTorch hook."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _studio_trials import write_trial  # noqa: E402

from smdbg.studio._debugger_data import (  # noqa: E402
    StudioNotFound,
    TrialCatalog,
    rule_timeline,
    series_choices,
    tensor_at_step,
    tensor_heatmap,
    tensor_series,
    trial_overview,
    trial_version,
)
from smdbg.studio._series import downsample, heatmap, histogram  # noqa: E402
from smdbg.trial import Finding, RuleStatus, RuleStatusDoc, write_findings, write_rule_status  # noqa: E402


def test_downsample_keeps_every_extreme_and_says_how_many() -> None:
    x = np.arange(100_000)
    y = np.sin(x / 500.0)
    y[31_337] = 40.0  # a spike an averaging down-sampler would flatten
    y[77_001] = -40.0
    y[5] = np.nan
    out = downsample(x, y, 1000)
    assert out["shown"] <= 1000 and out["total"] == 100_000 and out["range_total"] == 100_000
    pts = dict(zip(out["x"], out["y"]))
    assert pts[31_337] == 40.0 and pts[77_001] == -40.0
    assert out["x"] == sorted(out["x"])
    assert out["nonfinite"] == {"count": 1, "steps": [5], "kinds": ["nan"]}
    zoom = downsample(x, y, 1000, (31_000, 31_499))
    assert zoom["range_total"] == 500 and zoom["shown"] == 500 and zoom["x"][0] == 31_000
    small = downsample(x[:10], np.ones(10), 1000)
    assert small["shown"] == 10 and small["x"] == list(range(10))
    with pytest.raises(ValueError, match="max_points=1"):
        downsample(x, y, 1)


def test_histogram_and_heatmap_count_every_finite_value() -> None:
    h = histogram(np.array([[0.0, 1.0], [np.inf, 1.0]]), bins=4)
    assert sum(h["counts"]) == 3 and h["stats"]["inf"] == 1 and h["values"][2] == "inf"
    assert h["shape"] == [2, 2]
    hm = heatmap([1, 2], [np.zeros(5), np.ones(3)], bins=2)
    assert hm["counts"] == [[5, 0], [0, 3]] and hm["max_count"] == 5
    assert heatmap([1], [np.array([np.nan])])["edges"] == []


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_trial(root / "exp" / "a", steps=12)
    write_trial(root / "b", steps=6, nan_step=4)
    (root / "not-a-trial").mkdir()
    return root


def test_catalog_finds_trials_and_refuses_what_it_did_not_find(runs: Path) -> None:
    cat = TrialCatalog([runs])
    ids = cat.ids()
    assert ids == [f"{runs.name}/b", f"{runs.name}/exp/a"]
    for bad in ("../etc", f"{runs.name}/not-a-trial", f"{runs.name}/../{runs.name}/b", "/etc/passwd"):
        with pytest.raises(StudioNotFound, match="no trial"):
            cat.trial(bad)


def test_overview_series_step_and_heatmap(runs: Path) -> None:
    trial = TrialCatalog([runs]).trial(f"{runs.name}/exp/a")
    ov = trial_overview(trial)
    assert ov["ended"] and ov["steps"] == 12 and ov["workers"] == ["worker_0"]
    assert "CrossEntropyLoss_output_0" in ov["collections"]["losses"]
    grad = "gradient/Net_fc1.weight"
    assert series_choices(trial, grad) == ["abs_max", "l2", "mean"]
    assert series_choices(trial, "CrossEntropyLoss_output_0") == ["value"]
    assert series_choices(trial, "Net_fc1.weight") == ["mean", "abs_max", "l2"]
    s = tensor_series(trial, grad, "l2", max_points=4)
    assert s["total"] == 12 and s["shown"] <= 4 and not s["computed"]
    steps, values = trial.tensor(grad).history("l2")
    assert max(s["y"]) == pytest.approx(values.max()) and min(s["y"]) == pytest.approx(values.min())
    w = tensor_series(trial, "Net_fc1.weight", "abs_max")
    assert w["computed"] and w["shown"] == 12
    at = tensor_at_step(trial, "Net_fc1.weight", 3)
    assert at["shape"] == [8, 6] and sum(at["counts"]) == 48 and at["raw_steps"] == list(range(12))
    hm = tensor_heatmap(trial, "Net_fc1.weight")
    assert hm["shown"] == hm["total"] == 12 and all(sum(r) == 48 for r in hm["counts"])
    for call, match in (
        (lambda: tensor_series(trial, "nope"), "no tensor 'nope'"),
        (lambda: tensor_series(trial, grad, "median"), "no reduction 'median'"),
        (lambda: tensor_series(trial, grad, worker="worker_9"), "no worker 'worker_9'"),
        (lambda: tensor_at_step(trial, "Net_fc1.weight", 999), "no raw value at step 999"),
    ):
        with pytest.raises(StudioNotFound, match=match):
            call()


def test_rule_timeline_and_version_follow_rule_documents(runs: Path) -> None:
    trial = TrialCatalog([runs]).trial(f"{runs.name}/b")
    before = trial_version(trial)
    assert rule_timeline(trial)["rules"] == []
    write_rule_status(trial, RuleStatusDoc("exploding_tensor", RuleStatus.ISSUES_FOUND, "NaN in gradients", 5, 1))
    write_findings(trial, "exploding_tensor", [Finding("exploding_tensor", 4, "gradient is NaN", "gradient/Net_fc1.weight")])
    tl = rule_timeline(trial)
    assert tl["rules"][0]["status"] == "IssuesFound"
    assert tl["rules"][0]["findings"] == [{"step": 4, "tensor": "gradient/Net_fc1.weight", "message": "gradient is NaN", "mode": None}]
    assert tl["loss"]["total"] == 6
    assert trial_version(trial) != before
    s = tensor_series(trial, "gradient/Net_fc1.weight", "l2")
    assert s["nonfinite"]["steps"][0] == 4 and s["shown"] == 4  # steps 0..3 drawn, 4.. named
