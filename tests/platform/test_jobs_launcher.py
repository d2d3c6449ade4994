"""PyTorch training jobs with debugger rules and an **unmodified** script (no smdbg import): the
estimator runs it under ``smdbg run`` (the zero-code-change launcher), configured by the job's hook
config; rule jobs follow the run; locally and in a container. The local jobs start together
(wait=False) to keep the module fast."""

# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _jobs_fixtures import docker_engine, jobs_home  # noqa: F401

from smdbg.platform.jobs import PyTorch, TrainingJob
from smdbg.rules import Rule, rule_configs
from smdbg.trials import create_trial

SCRIPT = Path(__file__).with_name("_jobs_train_plain.py")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "estimator_pytorch.py"
COLLECTIONS = [{"CollectionName": n} for n in ("losses", "weights", "gradients")]
NAMES = {
    "MSELoss_output_0",
    "Sequential_0.weight",
    "Sequential_2.weight",
    "gradient/Sequential_0.weight",
    "gradient/Sequential_0.bias",
    "gradient/Sequential_2.weight",
    "gradient/Sequential_2.bias",
}


def _estimator(hps: dict[str, object], count: int = 1, **kw: object) -> PyTorch:
    params = {"save_interval": "1", "include_workers": "all"}
    return PyTorch(
        str(SCRIPT),
        hyperparameters=hps,
        rules=[Rule.builtin(rule_configs.exploding_tensor())],
        debugger_hook_config={"HookParameters": params, "CollectionConfigurations": COLLECTIONS},
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+|nan)"}],
        instance_count=count,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[str]]:
    """examples/estimator_pytorch.py in its own process and SMDBG_HOME (read by test_example)."""
    tmp = tmp_path_factory.mktemp("launcher-example")
    env = {**os.environ, "SMDBG_HOME": str(tmp / "home"), "SMDBG_TRACKER_URL": f"sqlite:///{tmp / 'db'}"}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory, example: object) -> Iterator[dict[str, PyTorch]]:
    """Four jobs started at once (beside the example): NaN at step 3, healthy, two gloo workers,
    stop_training."""
    tmp = tmp_path_factory.mktemp("launcher-jobs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMDBG_HOME", str(tmp / "home"))
        mp.setenv("SMDBG_TRACKER_URL", f"sqlite:///{tmp / 'tracker.db'}")
        ests = {
            "nan": _estimator({"steps": 6, "nan-at": 3}),
            "healthy": _estimator({"steps": 6}),
            "dist": _estimator({"steps": 5, "nan-at": 2}, count=2),
            "stop": _estimator({"steps": 400, "nan-at": 2, "sleep": 0.05}, rule_actions=["stop_training"]),
        }
        ests["nan"].fit(
            job_name="plain-nan",
            wait=False,
            experiment_config={"ExperimentName": "zcc", "TrialName": "zcc-1"},
        )
        for key in ("healthy", "dist", "stop"):
            ests[key].fit(job_name=f"plain-{key}", wait=False)
        for e in ests.values():
            job = e.latest_training_job
            assert isinstance(job, TrainingJob)
            job.wait(logs=False, timeout=180)  # raises JobFailedError (with the reason) if Failed
        yield ests


def _status(est: PyTorch) -> str:
    return str(est.describe()["TrainingJobStatus"])


def test_unmodified_script_runs_under_the_launcher(jobs: dict[str, PyTorch]) -> None:
    assert "smdbg" not in SCRIPT.read_text().split('"""', 2)[2]  # the script itself never names smdbg
    job = jobs["nan"].latest_training_job
    assert job is not None
    spec = json.loads((job.job_dir / "spec.json").read_text())
    argv = spec["workers"][0]["argv"]
    assert argv[1:5] == ["-m", "smdbg.launch_cli", "--config", "/opt/ml/input/config/debughookconfig.json"]
    assert argv[5] == SCRIPT.name and argv[6:] == ["--steps", "6", "--nan-at", "3"]


def test_nan_is_found_by_the_exploding_tensor_rule_job(jobs: dict[str, PyTorch]) -> None:
    est = jobs["nan"]
    assert _status(est) == "Completed", est.describe().get("FailureReason")
    summary = est.latest_training_job.rule_job_summary()  # type: ignore[union-attr]
    assert [(s["RuleConfigurationName"], s["RuleEvaluationStatus"]) for s in summary] == [
        ("exploding_tensor", "IssuesFound")
    ]
    assert "step 3" in summary[0]["StatusDetails"]
    assert est.describe()["DebugRuleEvaluationStatuses"] == summary
    path = est.latest_job_debugger_artifacts_path()
    assert path is not None and Path(path).is_dir()
    trial = create_trial(path)
    assert trial.training_has_ended()
    assert trial.workers() == ["worker_0"]
    assert trial.steps() == list(range(6))
    assert set(trial.tensor_names()) == NAMES
    losses = trial.tensor("MSELoss_output_0").values()
    assert all(np.isfinite(losses[s]) for s in (0, 1, 2)) and np.isnan(losses[3])
    log = (est.latest_training_job.job_dir / "logs" / "algo-1.log").read_text()  # type: ignore[union-attr]
    printed = [float(line.split("loss=")[1]) for line in log.splitlines() if line.startswith("step=")]
    assert [float(losses[s]) for s in (0, 1, 2)] == pytest.approx(printed[:3], abs=1e-6)
    assert trial.rule_statuses()["exploding_tensor"]["status"] == "IssuesFound"
    from smdbg.tracker import TrialComponent

    tc = TrialComponent.load("plain-nan-training-job")
    assert tc.output_artifacts["debugger-trial"].value == path


def test_healthy_script_has_no_issues(jobs: dict[str, PyTorch]) -> None:
    est = jobs["healthy"]
    assert _status(est) == "Completed", est.describe().get("FailureReason")
    summary = est.latest_training_job.rule_job_summary()  # type: ignore[union-attr]
    assert [s["RuleEvaluationStatus"] for s in summary] == ["NoIssuesFound"]
    trial = create_trial(est.latest_job_debugger_artifacts_path())  # type: ignore[arg-type]
    assert trial.steps() == list(range(6))
    assert set(trial.tensor_names()) == NAMES


def test_two_gloo_workers_write_one_trial(jobs: dict[str, PyTorch]) -> None:
    est = jobs["dist"]
    assert _status(est) == "Completed", est.describe().get("FailureReason")
    summary = est.latest_training_job.rule_job_summary()  # type: ignore[union-attr]
    assert [s["RuleEvaluationStatus"] for s in summary] == ["IssuesFound"]
    trial = create_trial(est.latest_job_debugger_artifacts_path())  # type: ignore[arg-type]
    assert trial.workers() == ["worker_0", "worker_1"]
    assert set(trial.tensor_names()) == NAMES  # the DDP wrapper is unwrapped: one-process names
    loss = trial.tensor("MSELoss_output_0")
    assert loss.workers(0) == ["worker_0", "worker_1"]
    # each rank reads its own batches (different losses), DDP all-reduces the gradients (equal)
    assert float(loss.value(0, worker="worker_0")) != float(loss.value(0, worker="worker_1"))
    grad = trial.tensor("gradient/Sequential_0.weight")
    np.testing.assert_allclose(grad.value(1, worker="worker_0"), grad.value(1, worker="worker_1"), rtol=1e-5)


def test_stop_training_action_stops_the_job(jobs: dict[str, PyTorch]) -> None:
    est = jobs["stop"]
    desc = est.describe()
    assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
    assert [s["RuleEvaluationStatus"] for s in desc["DebugRuleEvaluationStatuses"]] == ["IssuesFound"]
    trial = create_trial(est.latest_job_debugger_artifacts_path())  # type: ignore[arg-type]
    assert trial.training_has_ended()
    assert 2 <= trial.steps()[-1] < 399  # stopped after the NaN, long before the last step


def test_example(jobs: dict[str, PyTorch], example: subprocess.Popen[str]) -> None:
    out, _ = example.communicate(timeout=180)
    assert example.returncode == 0, out
    healthy, diverged = out.split("== lr=1000")[0], out.split("== lr=1000")[1].split("== experiment")[0]
    assert "Completed" in healthy and "rule exploding_tensor: NoIssuesFound" in healthy
    assert (
        "rule exploding_tensor: IssuesFound" in diverged and "CrossEntropyLoss_output_0 has NaN" in diverged
    )
    assert "metric train:loss = nan" in diverged
    table = out.split("== experiment")[1].splitlines()
    assert len(table) == 4 and "1000" in out.split("== experiment")[1]  # header line, column names, 2 rows


def test_unmodified_script_in_a_container(jobs_home: Path, docker_engine: str) -> None:
    est = _estimator({"steps": 4, "nan-at": 2}, backend="docker")
    est.fit(job_name="plain-docker", logs=False)
    assert _status(est) == "Completed", est.describe().get("FailureReason")
    assert [s["RuleEvaluationStatus"] for s in est.latest_training_job.rule_job_summary()] == ["IssuesFound"]  # type: ignore[union-attr]
    trial = create_trial(est.latest_job_debugger_artifacts_path())  # type: ignore[arg-type]
    assert trial.steps() == [0, 1, 2, 3] and set(trial.tensor_names()) == NAMES
