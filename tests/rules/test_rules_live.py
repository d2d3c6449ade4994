"""Live: training in one process with a planted NaN, a following rule job in another, training
stopped by the job's stop_training action; the trial is closed and the status says IssuesFound."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from smdbg.rules import read_findings
from smdbg.trials import create_trial

HERE = os.path.dirname(__file__)


def test_follow_stops_training_on_planted_nan(tmp_path):
    out = str(tmp_path / "live")
    train = subprocess.Popen([sys.executable, os.path.join(HERE, "live_train.py"), out, "15", "2000", "0.05"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        job = subprocess.run(
            [sys.executable, "-m", "smdbg.rules.cli", "run", out, "--rule", "exploding_tensor", "--follow",
             "--action", "stop_training", "--poll-interval", "0.2", "--timeout", "90"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        stdout, stderr = train.communicate(timeout=120)
    finally:
        if train.poll() is None:
            train.kill()
    assert job.returncode == 1, job.stdout + job.stderr + stderr
    assert "FINDING step 15" in job.stdout
    assert train.returncode != 0 and "StopTrainingRequested" in stderr
    saved_at = {int(k): v for k, v in json.loads(stdout.strip().splitlines()[-1])["saved_at"].items()}
    assert max(saved_at) < 1900  # stopped long before the end (100 s of steps: room for a slow start)
    trial = create_trial(out)
    assert trial.training_has_ended()  # END marker written by the closing writer
    status = trial.rule_statuses()["exploding_tensor"]
    assert status["status"] == "IssuesFound" and status["findings_count"] >= 1
    assert [f.step for f in read_findings(out, "exploding_tensor")][0] == 15
    assert trial.stop_requested()["step"] == 15


def test_follow_stops_training_through_the_pytorch_hook(tmp_path):
    """The same through smd.Hook: the hook saves, and the hook raises StopTrainingRequested."""
    out = str(tmp_path / "hooked")
    train = subprocess.Popen([sys.executable, os.path.join(HERE, "live_train_hook.py"), out, "12", "2000", "0.05"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        job = subprocess.run(
            [sys.executable, "-m", "smdbg.cli", "rule", "run", out, "--rule", "exploding_tensor", "--follow",
             "--action", "stop_training", "--poll-interval", "0.2", "--timeout", "90"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        stdout, stderr = train.communicate(timeout=120)
    finally:
        if train.poll() is None:
            train.kill()
    assert job.returncode == 1, job.stdout + job.stderr + stderr
    # the NaN is planted at step 12: the job saw every step (progress never overtakes published segments)
    assert "FINDING step 12 " in job.stdout, job.stdout
    first = 12
    assert train.returncode != 0
    assert "smdbg.exceptions.StopTrainingRequested: training stopped at step" in stderr, stderr
    stepped = {int(k) for k in json.loads(stdout.strip().splitlines()[-1])["stepped"]}
    assert first < max(stepped) < 1900  # went on past the NaN, stopped long before the end
    trial = create_trial(out)
    assert trial.training_has_ended()  # the hook closed the trial (END marker)
    assert trial.tensor("MSELoss_output_0").value(max(stepped) - 1) is not None  # saved until the stop
    status = trial.rule_statuses()["exploding_tensor"]
    assert status["status"] == "IssuesFound" and status["findings_count"] >= 1
    found = read_findings(out, "exploding_tensor")
    assert found[0].step == first and found[0].tensor is not None
    assert {f.tensor for f in found if f.step == first} >= {"MSELoss_output_0", "gradient/Net_fc1.weight"}
    assert trial.stop_requested()["step"] == first
