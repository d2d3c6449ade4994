"""Stopping an AutoML job: the search ends long before its budget, the candidate running is killed
(only processes the job started), the job is Stopped and the best candidate so far stays."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smdbg._proc import pid_alive
from smdbg.platform.automl import AutoML, AutoMLJobError, read_job, stop_automl_job
from smdbg.platform.automl._cancel import CancelScope
from smdbg.platform.automl._forkhost import run_task
from smdbg.platform.automl._worker import CandidateFailure, TrainTask

pytest.importorskip("sklearn")
pytest.importorskip("optuna")

BUDGET = 3600.0  # far beyond anything the tests wait for: the stop, not the budget, ends them


def frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Enough rows that a 300-tree forest takes a while in each fold; a linear model is quick."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12))
    y = np.where(x[:, 0] - x[:, 1] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    out = pd.DataFrame(x, columns=[f"x{i}" for i in range(12)])
    out["label"] = y
    return out


def wait_until(cond: Any, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def assert_all_ended(pids: list[int]) -> None:
    alive = [p for p in pids if pid_alive(p)]
    assert not alive, f"candidate processes still running after the stop: {alive}"


def test_stop_ends_the_search_and_keeps_the_best(tmp_path: Path) -> None:
    automl = AutoML("label", total_job_runtime_in_seconds=BUDGET, output_path=tmp_path,
                    algorithms=["linear", "extra_trees"], generate_notebooks=False,
                    tracker_db_url=f"sqlite:///{tmp_path / 't.db'}")  # fmt: skip
    automl.fit(frame(), job_name="stop-me", wait=False, logs=False)

    def one_done_and_next_running() -> bool:
        d = automl.describe_auto_ml_job()
        done = [c for c in automl.list_candidates() if c["CandidateStatus"] != "InProgress"]
        return any(c["CandidateStatus"] == "Completed" for c in done) and len(d["CandidateProcessIds"]) > len(done)

    wait_until(one_done_and_next_running, "a completed candidate and a running one")
    d = automl.stop(reason="enough for today")
    assert d["AutoMLJobStatus"] == "Stopped" and d["AutoMLJobSecondaryStatus"] == "Stopped"
    assert d["StopReason"] == "enough for today" and d["FailureReason"] is None and d["EndTime"]
    pids = d["CandidateProcessIds"]
    assert_all_ended(pids)
    cands = automl.list_candidates()
    statuses = [c["CandidateStatus"] for c in cands]
    assert "InProgress" not in statuses and "Stopped" in statuses, statuses
    assert len(cands) == len(pids)  # every process it started is a recorded candidate
    stopped = [c for c in cands if c["CandidateStatus"] == "Stopped"]
    assert all("enough for today" in c["FailureReason"] for c in stopped)
    best = automl.best_candidate()
    assert d["BestCandidate"]["CandidateName"] == best["CandidateName"]
    best_model = tmp_path / "stop-me" / "best_model" / "model.joblib"
    assert best_model.exists() and d["BestModelLocation"] == str(best_model.parent)
    pred = automl.predict(frame(20, seed=1).drop(columns="label"))
    assert set(pred.tolist()) <= {"yes", "no"}
    on_disk = (tmp_path / "stop-me" / "candidates.json").read_text()
    assert best["CandidateName"] in on_disk and '"Stopped"' in on_disk
    again = automl.stop()  # a job that ended is left as it is
    assert again["AutoMLJobStatus"] == "Stopped" and again["StopReason"] == "enough for today"
    automl.wait()  # a stopped job is not an error


def test_stop_from_another_thread_while_fit_waits(tmp_path: Path) -> None:
    """``fit(wait=True)`` returns once another thread stops the job; nothing starts after the stop."""
    automl = AutoML("label", total_job_runtime_in_seconds=BUDGET, output_path=tmp_path,
                    algorithms=["extra_trees"], generate_notebooks=False,
                    tracker_db_url=f"sqlite:///{tmp_path / 't.db'}")  # fmt: skip
    result: dict[str, Any] = {}

    def stop_when_started() -> None:
        wait_until(lambda: automl._runner is not None and automl._runner.cancel.pids, "a candidate started")
        result["desc"] = automl.stop(wait=False)

    stopper = threading.Thread(target=stop_when_started)
    stopper.start()
    automl.fit(frame(), job_name="stop-fit", logs=False)  # returns: the stop ended it
    stopper.join()
    d = automl.describe_auto_ml_job()
    assert result["desc"]["AutoMLJobStatus"] in ("Stopping", "Stopped")
    assert d["AutoMLJobStatus"] == "Stopped" and d["BestCandidate"] is None
    assert_all_ended(d["CandidateProcessIds"])
    assert len(d["CandidateProcessIds"]) == 1  # the first candidate was killed; no other started
    assert [c["CandidateStatus"] for c in automl.list_candidates()] == ["Stopped"]
    with pytest.raises(AutoMLJobError, match="no completed candidate"):
        automl.best_candidate()


def test_cancelled_scope_kills_the_training_and_starts_nothing(tmp_path: Path) -> None:
    """The fork host's part: a running child is killed on cancel; a cancelled scope forks none."""
    data = tmp_path / "data.pkl"
    frame(2000).to_pickle(data)
    spec = {"algorithm": "extra_trees", "params": {"n_estimators": 5000, "max_features": 1.0, "min_samples_leaf": 1}}
    kinds = {f"x{i}": "numeric" for i in range(12)}
    task = TrainTask(str(data), "label", spec, kinds, "BinaryClassification", ["no", "yes"],
                     np.arange(2000) % 3)  # fmt: skip
    scope = CancelScope()
    threading.Thread(
        target=lambda: (wait_until(lambda: scope.pids, "the child started"), scope.cancel("test stop")),
        daemon=True,
    ).start()
    with pytest.raises(CandidateFailure) as e:
        run_task(task, 3600.0, scope)
    assert e.value.stopped and not e.value.timed_out and "test stop" in e.value.reason
    assert len(scope.pids) == 1
    assert_all_ended(scope.pids)
    with pytest.raises(CandidateFailure) as again:
        run_task(task, 3600.0, scope)
    assert again.value.stopped and len(scope.pids) == 1  # nothing was forked


FIT_SCRIPT = """
import sys
import pandas as pd
from smdbg.platform.automl import AutoML
automl = AutoML("label", total_job_runtime_in_seconds=3600, output_path=sys.argv[2], algorithms=["extra_trees"],
                generate_notebooks=False, tracker_db_url="sqlite:///" + sys.argv[3])
automl.fit(pd.read_pickle(sys.argv[1]), job_name="elsewhere", logs=False)
print("fit returned", automl.describe_auto_ml_job()["AutoMLJobStatus"])
"""


def test_stop_automl_job_from_another_process(tmp_path: Path) -> None:
    """``stop_automl_job(job_dir)`` stops a job that ``fit(wait=True)`` runs in another process."""
    data = tmp_path / "data.pkl"
    frame().to_pickle(data)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", FIT_SCRIPT, str(data), str(out), str(tmp_path / "t.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    try:
        job_dir = out / "elsewhere"
        wait_until(lambda: (job_dir / "job.json").exists() and read_job(job_dir)["CandidateProcessIds"],
                   "the other process started a candidate")  # fmt: skip
        d = stop_automl_job(job_dir, reason="from the test", timeout=120)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "fit returned Stopped" in output, output
    assert d["AutoMLJobStatus"] == "Stopped" and d["StopReason"] == "from the test"
    assert_all_ended(d["CandidateProcessIds"])
    assert stop_automl_job(job_dir)["AutoMLJobStatus"] == "Stopped"  # ended: left as it is
