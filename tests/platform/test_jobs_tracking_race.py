"""Jobs started together into one new experiment and trial: every one records its component."""

from __future__ import annotations

from smdbg.platform.jobs._tracking import JobTracking
from smdbg.testing.race import run_together
from smdbg.tracker import Trial


def test_concurrent_jobs_create_one_experiment_and_trial(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    n = 8

    def start(i: int) -> JobTracking:
        spec = {
            "name": f"job-{i}",
            "trial_component_name": f"job-{i}-component",
            "tracker_db_url": db_url,
            "experiment_config": {"ExperimentName": "shared-exp", "TrialName": "shared-trial"},
        }
        return JobTracking.start(spec)

    for tracking in run_together(n, start):  # raises the first error any job met
        tracking.tracker.__exit__(None, None, None)
    names = {c.trial_component_name for c in Trial.load("shared-trial", db_url=db_url).list_trial_components()}
    assert names == {f"job-{i}-component" for i in range(n)}
