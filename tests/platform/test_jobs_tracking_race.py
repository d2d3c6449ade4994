"""Jobs started together into one new experiment and trial: every one records its component."""

from __future__ import annotations

import threading

from smdbg.platform.jobs._tracking import JobTracking
from smdbg.tracker import Trial


def test_concurrent_jobs_create_one_experiment_and_trial(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    started: list[JobTracking] = []

    def start(i: int) -> None:
        spec = {
            "name": f"job-{i}",
            "trial_component_name": f"job-{i}-component",
            "tracker_db_url": db_url,
            "experiment_config": {"ExperimentName": "shared-exp", "TrialName": "shared-trial"},
        }
        barrier.wait()
        try:
            started.append(JobTracking.start(spec))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tracking in started:
        tracking.tracker.__exit__(None, None, None)
    assert errors == []
    names = {c.trial_component_name for c in Trial.load("shared-trial", db_url=db_url).list_trial_components()}
    assert names == {f"job-{i}-component" for i in range(n)}
