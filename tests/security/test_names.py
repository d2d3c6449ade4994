"""Names that become paths: every user-given name is one path component (smdbg.fs), so none writes
outside its folder. Each case is tried the way a careless user or an attacker would."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_helpers are used as parameters)

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _jobs_helpers import jobs_home, write_script  # noqa: F401

from smdbg import fs
from smdbg.exceptions import InvalidNameError
from smdbg.platform.automl import AutoML, AutoMLInputError
from smdbg.platform.jobs import Estimator, ScriptProcessor
from smdbg.platform.monitor import DefaultModelMonitor, ScheduleError
from smdbg.platform.serving import Predictor
from smdbg.rules import Rule, RuleConfigError, RuleJob, rule_configs
from smdbg.rules.builtin import builtin_rule_class
from smdbg.store import BackgroundWriter, Record
from smdbg.tracker import InvalidValueError, Tracker
from smdbg.trials import create_trial

ESCAPES = ["../../escaped", "..", ".hidden", "a/b", "a\\b", "tab\there", ""]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _trial(path: Path) -> str:
    w = BackgroundWriter(str(path), "worker_0", flush_secs=60, fsync=False)
    w.write_trial_metadata({"framework": "test", "num_workers": 1})
    for step in range(3):
        w.add(
            step,
            "TRAIN",
            step,
            [Record("loss", ("losses",), "raw", 1.0, "float32", (), np.array(1.0, dtype=np.float32))],
        )
        w.set_progress(step + 1, "TRAIN", step + 1)
    w.close()
    return str(path)


def _rule_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smdbg.rules.cli", "run", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", ESCAPES)
def test_one_path_component_validator(name: str) -> None:
    with pytest.raises(InvalidNameError, match="cannot be used as a file or folder name") as info:
        fs.check_path_component(name, "thing name")
    assert isinstance(info.value, ValueError) and repr(name) in str(info.value)
    assert fs.check_path_component("run-1_ok.v2", "thing name") == "run-1_ok.v2"
    assert fs.check_relative_path("plots/loss", "artifact name") == "plots/loss"
    with pytest.raises(InvalidNameError, match="part '..'"):
        fs.check_relative_path("plots/../../x", "artifact name")


def test_rule_cli_rule_name_cannot_escape_the_trial(tmp_path: Path) -> None:
    trial = _trial(tmp_path / "trial")
    before = _files(tmp_path)
    out = _rule_cli(trial, "--rule", "../../x", "--wait", "1")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]  # one line, no traceback
    assert "--rule '../../x' cannot be used as a file or folder name" in out.stderr
    assert _files(tmp_path) == before


def test_rule_cli_job_name_cannot_escape_the_trial(tmp_path: Path) -> None:
    trial = _trial(tmp_path / "trial")
    before = _files(tmp_path)
    out = _rule_cli(trial, "--rule", "exploding_tensor", "--name", "../../escaped", "--wait", "1")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--name '../../escaped' cannot be used as a file or folder name" in out.stderr
    assert _files(tmp_path) == before


def test_rule_names_in_the_api(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="rule name .*'../x'"):
        Rule.builtin(rule_configs.exploding_tensor(), name="../x")
    trial = create_trial(_trial(tmp_path / "trial"))
    rule = builtin_rule_class("exploding_tensor")(trial)
    with pytest.raises(RuleConfigError, match="rule job name 'a/b'"):
        RuleJob(rule, name="a/b")
    assert not (tmp_path / "trial" / "rules").exists()


def test_estimator_rule_name_and_job_name(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "train.py", "print(1)\n")
    good = Rule.builtin(rule_configs.exploding_tensor())
    with pytest.raises(ValueError, match=r"rules\[0\] name .*'../../x'"):
        Estimator(str(script), rules=[replace(good, name="../../x")])
    with pytest.raises(ValueError, match="job name '../escaped' cannot be used"):
        Estimator(str(script)).fit(job_name="../escaped")
    with pytest.raises(ValueError, match="job name 'x/y'"):
        ScriptProcessor(command=["python3"]).run(code=str(script), job_name="x/y")
    assert not jobs_home.exists() or _files(jobs_home) <= {"jobs"}
    assert not (tmp_path / "escaped").exists()


def test_endpoint_name(jobs_home: Path) -> None:
    with pytest.raises(ValueError, match="endpoint name '../../etc/passwd' cannot be used"):
        Predictor("../../etc/passwd")


def test_tracker_artifact_names(tmp_path: Path) -> None:
    store = tmp_path / "store"
    tr = Tracker.create(db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_location=str(store))
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    before = _files(tmp_path)
    for bad in ("../../outside", "/abs/path", "a/../../b", ".."):
        with pytest.raises(InvalidValueError, match="artifact name"):
            tr.log_artifact(src, name=bad)
    with pytest.raises(InvalidValueError, match="title .*'../x'"):
        tr.log_table(title="../x", values={"a": [1]})
    assert _files(tmp_path) == before  # nothing written anywhere
    assert Path(tr.log_artifact(src, name="plots/loss")).read_bytes() == b"weights"  # nested names still work
    tr.close()


def test_trial_component_name_as_artifact_folder(tmp_path: Path) -> None:
    tr = Tracker.create(
        trial_component_name="../../tc", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        artifact_location=str(tmp_path / "store"),
    )  # fmt: skip
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(InvalidValueError, match="trial component name"):
        tr.log_artifact(src)
    assert not (tmp_path / "store").exists() and not (tmp_path.parent / "tc").exists()
    tr.close()


def test_automl_job_name(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "z": np.arange(40.0) % 7, "y": np.arange(40) % 2})
    automl = AutoML("y", max_candidates=1, output_path=tmp_path / "out")
    with pytest.raises(AutoMLInputError, match="job_name .*'../escaped'"):
        automl.fit(frame, job_name="../escaped")
    assert not (tmp_path / "escaped").exists()


def test_monitor_schedule_name(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="monitor_schedule_name .*'../../x'.*contains '/'"):
        DefaultModelMonitor().create_monitoring_schedule(
            "../../x", endpoint_input=str(tmp_path / "capture"), output_s3_uri=str(tmp_path / "reports"),
            constraints={"version": 0.0, "features": []}, start=False,
        )  # fmt: skip
    assert not (tmp_path / "reports").exists()
