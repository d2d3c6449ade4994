"""Two processes join one search through an Optuna storage URL and a study name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

WORKER = """
import sys
from smdbg.platform.automl import AutoML
if __name__ == "__main__":
    csv, out, storage, job = sys.argv[1:5]
    AutoML("y", max_candidates=3, output_path=out, storage=storage, study_name="shared",
           algorithms=["linear", "hist_gradient_boosting"], tracker_db_url=f"sqlite:///{out}/{job}.db",
           generate_notebooks=False, ensemble=False).fit(csv, job_name=job, logs=False)
"""


def test_two_processes_join_one_study(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [1.0, -2.0, 0.5]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    optuna.create_study(storage=storage, study_name="shared")  # created once, then both join
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "d.csv"), str(tmp_path / "out"), storage, job]
        )
        for job in ("worker-a", "worker-b")
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    study = optuna.load_study(storage=storage, study_name="shared")
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(trials) == 6
    assert {t.user_attrs["job_name"] for t in trials} == {"worker-a", "worker-b"}
    assert len({t.number for t in trials}) == 6
    for job in ("worker-a", "worker-b"):
        assert (tmp_path / "out" / job / "best_model" / "model.joblib").exists()


POPPER = """
import sys
import optuna
from smdbg.platform.automl._search import _storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(storage=_storage(optuna, sys.argv[1]), study_name="queue")
for _ in range(30):
    trial = study.ask()
    print(trial.number, flush=True)
    study.tell(trial, 1.0)
"""


def test_two_processes_never_take_the_same_enqueued_trial(tmp_path: Path) -> None:
    """Optuna hands out enqueued trials by read-then-write; on SQLite both must be one locked step."""
    storage = f"sqlite:///{tmp_path / 'queue.db'}"
    study = optuna.create_study(storage=storage, study_name="queue")
    for i in range(60):
        study.enqueue_trial({"x": i})
    procs = [
        subprocess.Popen([sys.executable, "-c", POPPER, storage], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    taken = [int(n) for p in procs for n in p.communicate(timeout=240)[0].split()]
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(taken) == list(range(60))  # each trial ran once, none twice
