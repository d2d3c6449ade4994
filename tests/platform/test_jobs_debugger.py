"""Training jobs with debugger rules: hook configured through the JSON config, rule jobs beside the
run, two torch.distributed workers (gloo) in one trial, and the experiment's trial component."""

# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _jobs_fixtures import jobs_home  # noqa: F401

from smdbg.platform.jobs import PyTorch
from smdbg.rules import Rule, rule_configs

SCRIPT = Path(__file__).with_name("_jobs_train_hooked.py")


def test_distributed_pytorch_with_exploding_tensor_rule(jobs_home: Path) -> None:
    est = PyTorch(
        str(SCRIPT),
        hyperparameters={"steps": 6, "nan-at": 3},
        rules=[Rule.builtin(rule_configs.exploding_tensor())],
        debugger_hook_config={"HookParameters": {"save_interval": "1", "include_workers": "all"}},
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+|nan)"}],
        instance_count=2,
    )
    exp = {"ExperimentName": "dbg", "TrialName": "dbg-1"}
    est.fit(job_name="rules-1", experiment_config=exp, logs=False)
    desc = est.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    summary = est.latest_training_job.rule_job_summary()  # type: ignore[union-attr]
    assert [s["RuleConfigurationName"] for s in summary] == ["exploding_tensor"]
    assert summary[0]["RuleEvaluationStatus"] == "IssuesFound"
    assert "step 3" in summary[0]["StatusDetails"]
    assert desc["DebugRuleEvaluationStatuses"] == summary
    path = est.latest_job_debugger_artifacts_path()
    assert path is not None
    config = json.loads((Path(path).parents[1] / "input" / "config" / "debughookconfig.json").read_text())
    assert config["LocalPath"] == "/opt/ml/output/tensors"  # the script saw the container path

    from smdbg.tracker import TrialComponent
    from smdbg.trials import create_trial

    trial = create_trial(path)
    assert sorted(trial.workers()) == ["worker_0", "worker_1"]
    import pyarrow.parquet as pq

    for w in ("worker_0", "worker_1"):  # the launcher adopted the script's hook: one writer, 6 rows
        rows = [
            pq.read_table(f, columns=["step"]).num_rows for f in (Path(path) / "events" / w).glob("*.parquet")
        ]
        assert sum(rows) == 6, (w, rows)
    assert trial.rule_statuses()["exploding_tensor"]["status"] == "IssuesFound"
    tc = TrialComponent.load("rules-1-training-job")
    assert tc.output_artifacts["debugger-trial"].value == path
    assert tc.parameters["steps"] == 6.0


def test_bad_rules_and_hook_config(jobs_home: Path) -> None:
    with pytest.raises(TypeError, match=r"rules\[0\]='exploding_tensor'.*Rule.builtin"):
        PyTorch(str(SCRIPT), rules=["exploding_tensor"])
    est = PyTorch(str(SCRIPT), debugger_hook_config={"HookParameters": {"save_intervall": "1"}})
    with pytest.raises(ValueError, match="save_intervall"):
        est.fit(job_name="bad-hook")
