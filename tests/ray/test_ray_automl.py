"""An AutoML search whose candidates run as Ray tasks on both nodes of the test cluster."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML, AutoMLInputError


def _data(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [1.0, -2.0, 0.5]})
    frame.to_csv(path, index=False)
    return path


def test_candidates_run_on_both_nodes(ray_cluster: str, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    automl = AutoML(
        "y", max_candidates=6, output_path=tmp_path / "out", storage=storage, study_name="ray-search",
        algorithms=["linear", "random_forest"], tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        generate_notebooks=False, ensemble=False, n_jobs=2, backend="ray", ray_address=ray_cluster,
        ray_candidate_cpus=0.5,
    )  # fmt: skip
    automl.fit(str(_data(tmp_path / "d.csv")), job_name="ray-automl", logs=False)
    study = optuna.load_study(storage=storage, study_name="ray-search")
    done = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(done) == 6
    assert len({t.user_attrs["node_id"] for t in done}) == 2  # SPREAD: both nodes trained candidates
    assert (tmp_path / "out" / "ray-automl" / "best_model" / "model.joblib").exists()
    assert automl.best_candidate()["FinalAutoMLJobObjectiveMetric"]["Value"] is not None


def test_over_time_candidates_are_cancelled(ray_cluster: str, tmp_path: Path) -> None:
    automl = AutoML(
        "y", max_candidates=2, max_runtime_per_training_job_in_seconds=0.001, output_path=tmp_path / "out",
        algorithms=["random_forest"], tracker_db_url=f"sqlite:///{tmp_path / 't.db'}",
        generate_notebooks=False, ensemble=False, backend="ray", ray_address=ray_cluster,
    )  # fmt: skip
    with pytest.raises(Exception, match="no candidate"):
        automl.fit(str(_data(tmp_path / "d.csv")), job_name="ray-late", logs=False)
    reasons = {c["FailureReason"] for c in automl.list_candidates()}
    assert reasons == {"training ran past its time limit of 0.001 s and its Ray task was cancelled"}


def test_stop_cancels_the_running_ray_task(ray_cluster: str, tmp_path: Path) -> None:
    """``AutoML.stop()`` on the Ray backend: the running candidate's task is cancelled (force), it is
    listed Stopped, no other starts, and the job ends Stopped long before its hour-long budget."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(y=x[:, 0] - x[:, 1])
    automl = AutoML(
        "y", total_job_runtime_in_seconds=3600, output_path=tmp_path / "out", algorithms=["extra_trees"],
        tracker_db_url=f"sqlite:///{tmp_path / 't.db'}", generate_notebooks=False, backend="ray",
        ray_address=ray_cluster, ray_candidate_cpus=0.5,
    )  # fmt: skip
    automl.fit(frame, job_name="ray-stop", wait=False, logs=False)
    deadline = time.monotonic() + 300
    while automl._runner is None or not automl._runner.cancel.running():
        assert time.monotonic() < deadline, "no Ray task started"
        time.sleep(0.05)
    d = automl.stop(reason="ray stop", timeout=120)
    assert d["AutoMLJobStatus"] == "Stopped" and d["StopReason"] == "ray stop"
    cands = automl.list_candidates()
    assert [c["CandidateStatus"] for c in cands] == ["Stopped"], cands
    assert "ray stop" in cands[0]["FailureReason"]
    assert automl._runner.cancel.running() == 0


def test_bad_backend_options() -> None:
    with pytest.raises(AutoMLInputError, match="backend='spark': expected 'local' or 'ray'"):
        AutoML("y", backend="spark")
    with pytest.raises(AutoMLInputError, match="ray_address='h:1' is given but backend='local'"):
        AutoML("y", ray_address="h:1")
    with pytest.raises(AutoMLInputError, match="ray_candidate_cpus=0"):
        AutoML("y", backend="ray", ray_candidate_cpus=0)
