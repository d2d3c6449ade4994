"""AutoML's time budget: fit() returns within total_job_runtime_in_seconds, refits included.

The wall-time assertion is the product's contract (fit returns within the budget plus the
documented tolerance), not a performance claim. Nothing here is tuned to one machine's speed:
the budget test first measures one fit of the search's first candidate on this machine, now,
and derives the budget, the per-candidate limit and the slack from that measurement.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML
from smdbg.platform.automl._budget import (
    FINISH_SECONDS,
    NOTEBOOK_SECONDS,
    SAFETY,
    Budget,
    refit_scale,
    refit_seconds,
    tolerance,
)
from smdbg.platform.automl._search import Candidate
from smdbg.platform.automl._space import DEFAULT_SPECS, build_pipeline

SLACK = 3.0  # beyond the documented tolerance: process start-up and scheduling noise


def digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


@pytest.fixture(scope="module")
def fit_seconds() -> float:
    """Seconds one fit of the search's first default candidate takes on 80% of digits, here and now.

    Measured as the search runs it (one native thread, the same pipeline), the slowest of two, so a
    test's budget follows this machine's speed and its current load instead of a constant.
    """
    from threadpoolctl import threadpool_limits

    frame = digits()
    x, y = frame.drop(columns="target"), frame["target"]
    n = int(0.8 * len(frame))
    kinds = {c: "numeric" for c in x.columns}
    times = []
    with threadpool_limits(limits=1):
        for _ in range(2):
            model = build_pipeline(DEFAULT_SPECS[0], kinds, "MulticlassClassification", 0)
            start = time.perf_counter()
            model.fit(x[:n], y[:n])
            times.append(time.perf_counter() - start)
    return max(times)


def test_fit_returns_within_budget_with_a_deployable_model(tmp_path: Path, fit_seconds: float) -> None:
    """Digits (10 classes): the budget leaves room for about two search fits and the winner's refit.

    A holdout split (one fit per candidate) and a refit on 1.25x the rows: the first candidate's
    limit is the time left after the finishing steps, shared with its own refit (see
    ``Budget.candidate_seconds``). The budget is chosen so that this limit is two of the fits
    measured just now: the first candidate completes even if the machine gets slower meanwhile,
    and the budget still ends the search early, which is what this test is about.
    """
    frame = digits()
    scale = len(frame) / int(0.8 * len(frame))
    per_candidate = 2.0 * fit_seconds + 0.5  # room for loading, prediction and a busier machine
    start_up = 1.0 + fit_seconds  # analysing the frame and the job's set-up, before the budget is used
    budget = math.ceil(per_candidate * (1.0 + SAFETY * scale) + FINISH_SECONDS + NOTEBOOK_SECONDS + start_up)
    budget = max(budget, 10)
    automl = AutoML(
        "target",
        total_job_runtime_in_seconds=budget,
        max_runtime_per_training_job_in_seconds=per_candidate,
        output_path=tmp_path,
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        cv_max_rows=1000,  # a holdout split: the refit on every row costs more than a search fit
    )
    start = time.monotonic()
    automl.fit(frame, job_name="digits", logs=False)
    wall = time.monotonic() - start
    slack = SLACK + fit_seconds  # a finishing step may take one more fit's time on a slow machine
    assert wall <= budget + tolerance(budget) + slack, (
        f"fit took {wall:.1f} s for a {budget} s budget (one fit measured {fit_seconds:.2f} s)"
    )

    d = automl.describe_auto_ml_job()
    assert d["AutoMLJobStatus"] == "Completed"
    report = d["TimeBudget"]
    assert report["BudgetSeconds"] == budget and report["ToleranceSeconds"] == tolerance(budget)
    assert all(set(s) == {"Step", "Reason"} for s in report["SkippedSteps"])
    for c in automl.list_candidates(status_equals="Failed"):  # the per-candidate limit still applies
        if "time limit of " not in (c["FailureReason"] or ""):
            continue
        limit = float(c["FailureReason"].split("time limit of ")[1].split(" s")[0])
        assert limit <= per_candidate * 1.001
    completed = automl.list_candidates(status_equals="Completed")
    assert completed and sum(c["CandidateProperties"]["FitSeconds"] for c in completed) > 0

    best_dir = Path(d["BestModelLocation"])
    meta = json.loads((best_dir / "metadata.json").read_text())
    assert meta["candidate_name"] == d["BestCandidate"]["CandidateName"]
    assert meta["classes"] == list(range(10))
    model = joblib.load(best_dir / "model.joblib")
    x = frame.drop(columns="target")
    assert (model.predict(x) == frame["target"]).mean() > 0.9
    assert d["AutoMLJobArtifacts"]["DataExplorationNotebookLocation"] is not None or any(
        s["Step"] == "Notebooks" for s in report["SkippedSteps"]
    )
    assert not (tmp_path / "digits" / "search_models").exists()  # the fallback models are cleaned up


def test_refit_that_does_not_fit_keeps_the_search_model(tmp_path: Path) -> None:
    """With no time left after the search, best_model is the model fitted during the search."""
    frame = digits().head(600)
    automl = AutoML(
        "target",
        max_candidates=2,
        total_job_runtime_in_seconds=300,
        output_path=tmp_path,
        algorithms=["linear", "random_forest"],
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        generate_notebooks=False,
    )
    runner = automl._new_runner(frame, "late", logs=False)
    automl._runner = runner
    runner.prepare()
    runner._search()
    kept = [c for c in runner.candidates if c.search_model_path is not None]
    assert len(kept) == 1 and Path(str(kept[0].search_model_path)).exists()  # the best only
    runner.budget.deadline = time.monotonic() + 0.3  # as if the search had used up the budget
    runner.finish()

    d = automl.describe_auto_ml_job()
    steps = {s["Step"]: s["Reason"] for s in d["TimeBudget"]["SkippedSteps"]}
    assert "Refit" in steps and "fitted during the search on" in steps["Refit"], steps
    assert "Ensemble" in steps
    assert d["BestCandidate"]["CandidateName"] == kept[0].name
    model = joblib.load(Path(d["BestModelLocation"]) / "model.joblib")
    assert (model.predict(frame.drop(columns="target")) == frame["target"]).mean() > 0.8
    assert automl.best_candidate()["CandidateName"] == kept[0].name


def test_too_small_a_budget_fails_with_a_clear_reason(tmp_path: Path, fit_seconds: float) -> None:
    automl = AutoML(
        "target", total_job_runtime_in_seconds=0.5, output_path=tmp_path, generate_notebooks=False
    )
    from smdbg.platform.automl import AutoMLJobError

    start = time.monotonic()
    with pytest.raises(AutoMLJobError, match="raise total_job_runtime_in_seconds"):
        automl.fit(digits().head(300), job_name="tiny", logs=False)
    assert time.monotonic() - start < 0.5 + tolerance(0.5) + SLACK + fit_seconds
    assert automl.describe_auto_ml_job()["AutoMLJobStatus"] == "Failed"


# -- the estimates (pure) ------------------------------------------------------------------------
def _cand(name: str, value: float, fit: float, n_fits: int = 5, wall: float | None = None) -> Candidate:
    return Candidate(
        name,
        0,
        {},
        status="Completed",
        objective_value=value,
        fit_seconds=fit,
        n_fits=n_fits,
        wall_seconds=fit + 0.5 if wall is None else wall,
        score_seconds=0.001,
    )


def test_refit_scale_and_estimates() -> None:
    cv = np.repeat(np.arange(5), 20)
    assert refit_scale(cv) == (pytest.approx(100 / 80), 5)
    holdout = np.array([-1] * 80 + [0] * 20)
    assert refit_scale(holdout) == (pytest.approx(100 / 80), 1)
    c = _cand("a", 0.9, fit=5.0, n_fits=5, wall=6.0)  # 1 s per fit, 1 s of loading/predicting/saving
    assert refit_seconds(c, 1.25) == pytest.approx(SAFETY * (1.25 + 1.0) + 0.3)
    assert math.isinf(refit_seconds(Candidate("x", 0, {}), 1.25))
    assert tolerance(10) == 2.0 and tolerance(100) == 5.0


def test_reserve_stops_the_search_before_the_refits_no_longer_fit() -> None:
    b = Budget(time.monotonic() + 20.0, 1.25, 5, ensemble=True, notebooks=False, maximize=True)
    assert b.reserve([]) == pytest.approx(0.5)
    fast, slow = _cand("fast", 0.8, fit=0.5), _cand("slow", 0.9, fit=50.0)
    assert b.reserve([fast]) < b.reserve([fast, slow])  # the slow one ranks first and is costly
    assert 0 < b.candidate_seconds([fast]) < 20.0 / (1 + SAFETY * 1.25 / 5)
    assert b.candidate_seconds([fast, slow]) == 0.0  # its refit leaves no time for another candidate
    pool = b.affordable_pool(b.ranked([fast, slow, _cand("mid", 0.85, fit=2.0)]), 10)
    assert [c.name for c in pool] == []  # the best one's refit alone does not fit
    cheap = [_cand(f"c{i}", 0.9 - i / 100, fit=1.0) for i in range(6)]
    soon = Budget(time.monotonic() + 6.0, 1.25, 5, ensemble=True, notebooks=False, maximize=True)
    pool = soon.affordable_pool(soon.ranked(cheap), 10)
    assert 2 <= len(pool) < 6 and [c.name for c in pool] == [f"c{i}" for i in range(len(pool))]
    unlimited = Budget(math.inf, 1.25, 5, ensemble=True, notebooks=True, maximize=True)
    assert unlimited.candidate_seconds([slow]) == math.inf
    assert len(unlimited.affordable_pool(cheap, 10)) == 6
