"""A stop asked for right after launch, while the supervisor is still starting, is honoured: the job
ends Stopped (never Failed), and its worker either never starts or is stopped."""
# ruff: noqa: F811  (pytest fixtures imported from _jobs_fixtures are used as parameters)

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _jobs_fixtures import jobs_home, write_script  # noqa: F401

from smdbg._proc import pid_alive
from smdbg.platform.jobs import Estimator, describe_job, stop_job
from smdbg.platform.jobs._state import job_dir


@pytest.mark.parametrize("attempt", range(4))
def test_stop_right_after_launch_ends_stopped(jobs_home: Path, tmp_path: Path, attempt: int) -> None:
    marker = tmp_path / "ran"
    script = write_script(
        tmp_path,
        "train.py",
        f"""
        import time
        open({str(marker)!r}, "w").write("started")
        time.sleep(600)
        """,
    )
    name = f"race-{attempt}"
    Estimator(str(script)).fit(job_name=name, wait=False, logs=False)
    desc = stop_job(name, wait=True, timeout=120)
    assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
    assert desc["SecondaryStatus"] == "Stopped" and "FailureReason" not in desc
    private = json.loads((job_dir(name) / "job.json").read_text())["_smdbg"]
    for pid in private.get("workers", {}).values():  # a worker that started was stopped
        assert not pid_alive(int(pid))
    if not private.get("workers"):  # stopped before the workers: the script never ran
        assert not marker.exists()
    deadline = time.monotonic() + 60  # the supervisor exits once it wrote the final status
    while pid_alive(private["supervisor_pid"]):
        assert time.monotonic() < deadline, "the supervisor did not exit"
        time.sleep(0.05)
    assert describe_job(name)["TrainingJobStatus"] == "Stopped"  # and it stays so


def test_stop_without_waiting_shows_stopping_then_stopped(jobs_home: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "train.py", "import time\ntime.sleep(600)\n")
    est = Estimator(str(script))
    est.fit(job_name="nowait", wait=False, logs=False)
    first = stop_job("nowait", wait=False)
    assert first["TrainingJobStatus"] in ("Stopping", "Stopped")
    assert est.latest_training_job is not None
    final = est.latest_training_job.wait(logs=False, timeout=120)  # a Stopped job does not raise
    assert final["TrainingJobStatus"] == "Stopped"
    assert stop_job("nowait")["TrainingJobStatus"] == "Stopped"  # stopping it again changes nothing
