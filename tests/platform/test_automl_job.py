"""An AutoML job end to end: search, leaderboard, tracker records, artifacts, failures, deploy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML, AutoMLInputError, AutoMLJobError


def churn_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Numeric and categorical features, missing values, an identifier; a yes/no label."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    score = 1.5 * x1 - x2 + np.where(plan == "pro", 1.0, 0.0) + rng.normal(scale=0.5, size=n)
    x2[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "customer": [f"c{i:05d}" for i in range(n)],
            "x1": x1,
            "x2": x2,
            "plan": plan,
            "churn": np.where(score > 0, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AutoML, Path, str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("automl")
    frame = churn_frame()
    csv = root / "train.csv"
    frame.to_csv(csv, index=False)
    db_url = f"sqlite:///{root / 'tracker.db'}"
    automl = AutoML(
        "churn",
        max_candidates=6,
        total_job_runtime_in_seconds=120,
        output_path=root / "out",
        tracker_db_url=db_url,
        algorithms=["hist_gradient_boosting", "linear", "random_forest", "mlp"],
        generate_notebooks=False,
    )
    automl.fit(str(csv), job_name="churn-job", logs=False)
    yield automl, root, db_url, frame


def test_describe_has_autopilot_shape(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    automl, root, _, _ = job
    d = automl.describe_auto_ml_job()
    assert d["AutoMLJobName"] == "churn-job"
    assert d["AutoMLJobStatus"] == "Completed"
    assert d["ResolvedAttributes"] == {
        "AutoMLJobObjective": {"MetricName": "F1"},
        "ProblemType": "BinaryClassification",
    }
    assert d["BestCandidate"]["CandidateName"] == automl.best_candidate()["CandidateName"]
    assert d["EndTime"] >= d["CreationTime"]
    on_disk = json.loads((root / "out" / "churn-job" / "job.json").read_text())
    assert on_disk["AutoMLJobStatus"] == "Completed"


def test_candidates_ranked_best_first_with_steps(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    automl, _, _, _ = job
    cands = automl.list_candidates()
    singles = [c for c in cands if c["CandidateSteps"][0]["CandidateStepType"] != "Ensemble"]
    assert len(singles) == 6
    values = [c["FinalAutoMLJobObjectiveMetric"]["Value"] for c in cands]
    assert values == sorted(values, reverse=True)
    assert all(0.5 < v <= 1.0 for v in values)
    first = singles[0]
    assert [s["CandidateStepType"] for s in first["CandidateSteps"]] == ["Preprocessing", "Training"]
    assert first["CandidateStatus"] == "Completed" and first["ObjectiveStatus"] == "Succeeded"
    assert automl.list_candidates(sort_order="Ascending")[0] == cands[-1]
    assert automl.list_candidates(status_equals="Failed") == []
    assert len(automl.list_candidates(max_results=2)) == 2
    with pytest.raises(AutoMLInputError, match="sort_by='Accuracy' is not supported"):
        automl.list_candidates(sort_by="Accuracy")


def test_best_model_artifact_contract(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    automl, root, _, frame = job
    best_dir = root / "out" / "churn-job" / "best_model"
    meta = json.loads((best_dir / "metadata.json").read_text())
    assert meta["framework"] == "sklearn"
    assert meta["feature_names"] == ["customer", "x1", "x2", "plan"]
    assert meta["target"] == "churn" and meta["classes"] == ["no", "yes"]
    assert meta["problem_type"] == "BinaryClassification" and meta["objective"] == "F1"
    model = joblib.load(best_dir / "model.joblib")
    features = frame[meta["feature_names"]]
    predicted = model.predict(features)
    assert set(predicted) <= {"no", "yes"}
    assert (predicted == frame["churn"]).mean() > 0.8  # fits its own training data
    proba = model.predict_proba(features.head(3))
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1.0)


def test_any_completed_candidate_gets_a_model(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    automl, _, _, frame = job
    last = automl.list_candidates(status_equals="Completed")[-1]
    model_dir = automl.model_dir(last)
    assert (model_dir / "model.joblib").exists() and (model_dir / "metadata.json").exists()
    assert automl.list_candidates(candidate_name=last["CandidateName"])[0]["InferenceContainers"][0][
        "ModelDataUrl"
    ] == str(model_dir)
    assert len(automl.predict(frame.drop(columns="churn").head(4), candidate=last)) == 4
    with pytest.raises(AutoMLJobError, match="'nope' is not a candidate"):
        automl.model_dir("nope")


def test_candidates_recorded_in_tracker(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    from smdbg.tracker import Trial

    automl, _, db_url, _ = job
    trial = Trial.load("churn-job", db_url=db_url)
    components = list(trial.list_trial_components())
    names = {c.display_name for c in components}
    assert names == {c["CandidateName"] for c in automl.list_candidates()}


def test_leaderboard_file_and_same_job_name_refused(job: tuple[AutoML, Path, str, pd.DataFrame]) -> None:
    automl, root, _, frame = job
    job_dir = root / "out" / "churn-job"
    board = json.loads((job_dir / "candidates.json").read_text())
    assert {c["CandidateName"] for c in board} == {c["CandidateName"] for c in automl.list_candidates()}
    before = (job_dir / "job.json").read_text()
    with pytest.raises(AutoMLInputError, match="job 'churn-job' already exists"):
        AutoML("churn", max_candidates=1, output_path=root / "out").fit(frame, job_name="churn-job")
    assert (job_dir / "job.json").read_text() == before


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the planted huge values
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_failing_candidate_recorded_and_search_goes_on(tmp_path: Path) -> None:
    """Values near float64's limit break scaling and float32 trees, not histogram boosting."""
    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {"x": x, "huge": rng.uniform(1, 2, n) * 1e300, "y": x + rng.normal(scale=0.1, size=n)}
    )
    automl = AutoML(
        "y",
        max_candidates=3,
        output_path=tmp_path,
        algorithms=["random_forest", "hist_gradient_boosting"],
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        generate_notebooks=False,
    )
    automl.fit(frame, job_name="fails", logs=False)
    failed = automl.list_candidates(status_equals="Failed")
    assert failed and all("random-forest" in c["CandidateName"] for c in failed)
    assert "float32" in failed[0]["FailureReason"] or "infinity" in failed[0]["FailureReason"]
    assert failed[0]["FinalAutoMLJobObjectiveMetric"]["Value"] is None
    assert automl.best_candidate()["CandidateStatus"] == "Completed"
    assert automl.list_candidates()[-1]["CandidateStatus"] == "Failed"  # unscored candidates go last
    reasons = automl.describe_auto_ml_job()["PartialFailureReasons"]
    assert len(reasons) == len(failed)


def test_candidate_over_time_limit_is_stopped(tmp_path: Path) -> None:
    frame = churn_frame(200)
    automl = AutoML(
        "churn",
        max_candidates=2,
        max_runtime_per_training_job_in_seconds=0.001,
        output_path=tmp_path,
        algorithms=["random_forest"],
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
    )
    with pytest.raises(AutoMLJobError, match="no candidate completed"):
        automl.fit(frame, job_name="slow", logs=False)
    cands = automl.list_candidates()
    assert len(cands) == 2 and all("time limit of 0.001 s" in c["FailureReason"] for c in cands)
    assert automl.describe_auto_ml_job()["AutoMLJobStatus"] == "Failed"


def test_regression_with_parquet_and_background_run(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.head(200)
    path = tmp_path / "diabetes.parquet"
    frame.to_parquet(path)
    automl = AutoML(
        "target",
        job_objective="RMSE",
        max_candidates=3,
        output_path=tmp_path / "out",
        algorithms=["linear", "hist_gradient_boosting"],
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        generate_notebooks=False,
    )
    automl.fit(str(path), job_name="reg", wait=False, logs=False)
    assert automl.describe_auto_ml_job()["AutoMLJobStatus"] in ("InProgress", "Completed")
    automl.wait(120)
    d = automl.describe_auto_ml_job()
    assert d["ResolvedAttributes"]["ProblemType"] == "Regression"
    values = [c["FinalAutoMLJobObjectiveMetric"]["Value"] for c in automl.list_candidates()]
    assert values == sorted(values)  # RMSE: lower is better, best first
    assert 30 < values[0] < 80  # diabetes RMSE of a sensible model (the target's std is ~77)
    meta = json.loads((tmp_path / "out" / "reg" / "best_model" / "metadata.json").read_text())
    assert "classes" not in meta and meta["objective"] == "RMSE"


def test_deploy_best_model_serves_predictions(
    job: tuple[AutoML, Path, str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    automl, _, _, frame = job
    monkeypatch.setenv("SMDBG_HOME", str(tmp_path / "home"))
    model = automl.create_model()
    assert model.framework == "sklearn"
    predictor = automl.deploy(endpoint_name="automl-test")
    try:
        rows = frame.drop(columns="churn").head(3)
        got: Any = predictor.predict(rows.values.tolist())
        flat = np.asarray(got).ravel().tolist()
        assert flat == joblib.load(Path(model.model_data) / "model.joblib").predict(rows).tolist()
    finally:
        predictor.delete_endpoint()
