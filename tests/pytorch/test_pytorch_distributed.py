"""Two real processes (torchrun, gloo): one worker each, and steps complete only when both passed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pytorch_testlib import ROOT, free_port

import smdbg.pytorch as smd

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_dist_train.py")


def _launch(out, release, out_one):  # noqa: ANN001, ANN202
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         f"--master_port={free_port()}", SCRIPT, str(out), str(release), str(out_one)],
        env={**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_two_workers_and_step_completeness(tmp_path) -> None:
    out, release = tmp_path / "trial", tmp_path / "release"
    proc = _launch(out, release, tmp_path / "one")
    try:
        trial = smd.create_trial(out, timeout=60)
        deadline = time.monotonic() + 60
        # rank 0 runs ahead to step 6 while rank 1 waits after step 3
        while time.monotonic() < deadline:
            w0 = trial.tensor("Sequential_0.weight").steps(show_incomplete_steps=True) if trial.has_tensor(
                "Sequential_0.weight") else []  # fmt: skip
            # rank 1's progress past step 2 reaches the store at its own pace: wait for it too
            if len(trial.workers()) == 2 and len(w0) >= 6 and trial.last_complete_step() == 2:
                break
            time.sleep(0.1)
        assert trial.workers() == ["worker_0", "worker_1"]
        assert trial.last_complete_step() == 2
        assert trial.steps() == [0, 1, 2]
        assert 5 in trial.steps(show_incomplete_steps=True)
        assert not trial.training_has_ended()
        release.write_text("go")
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
    finally:
        if proc.poll() is None:
            proc.kill()
    trial = smd.create_trial(out)
    assert trial.training_has_ended()
    assert trial.num_workers() == 2
    assert trial.steps() == [0, 1, 2, 3, 4, 5]
    assert trial.tensor("Sequential_0.weight").workers(5) == ["worker_0", "worker_1"]
    assert trial.metadata["num_workers"] == 2

    # the same run, include_workers="one": rank 0 only
    trial = smd.create_trial(tmp_path / "one")
    assert trial.workers() == ["worker_0"]
    assert trial.training_has_ended()
    assert trial.steps() == [0, 1, 2, 3, 4, 5]
