"""Re-running a training script into the out_dir of an earlier run: the hook refuses at its first
step (the writer open) and the earlier trial stays as it was; ``smdbg run`` refuses before the
script starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from pytorch_testlib import ROOT, Net, batch

import smdbg.pytorch as smd
from smdbg.exceptions import TrialExistsError


def _train(out_dir: str, steps: int = 4) -> None:
    net = Net()
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1))
    hook.register_module(net)
    opt = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    try:
        for i in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(batch(i)[0]), batch(i)[1]).backward()
            opt.step()
    finally:
        hook.close()


def test_hook_refuses_an_out_dir_that_holds_a_run(tmp_path) -> None:
    out = str(tmp_path / "exp1")
    _train(out)
    trial_before = smd.create_trial(out)
    steps_before = trial_before.steps()
    with pytest.raises(TrialExistsError, match=r"already holds a trial written by worker_0 .*new out_dir"):
        _train(out)
    assert smd.create_trial(out).steps() == steps_before
    _train(str(tmp_path / "exp1-2"))  # what the message suggests works


def test_smdbg_run_refuses_before_the_script_runs(tmp_path) -> None:
    script = tmp_path / "train.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    out = tmp_path / "exp"
    _train(str(out), steps=2)
    proc = subprocess.run([sys.executable, "-m", "smdbg.cli", "run", "--out", str(out), str(script)],
                          env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "already holds a trial" in proc.stderr
    assert not marker.exists()
