"""Steps and modes as smdebug numbers them (issue 19, item 3): ``set_mode`` never moves the
global step, and under ``smdbg run`` ``model.train()``/``model.eval()`` switch TRAIN/EVAL unless
the script sets modes itself (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_set_mode_does_not_move_the_global_step(tmp_path) -> None:
    net, criterion = Net(), nn.CrossEntropyLoss()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=1))
    hook.register_module(net)
    hook.register_loss(criterion)
    optimizer = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    for epoch in range(2):
        hook.set_mode(smd.modes.TRAIN)
        hook.set_mode(smd.modes.TRAIN)  # again: nothing happens
        for i in range(3):
            x, y = batch(i)
            optimizer.zero_grad()
            criterion(net(x), y).backward()
            optimizer.step()
        hook.save_scalar("epoch", epoch)  # saved between the loops: the step under way, EVAL's first
        hook.set_mode(smd.modes.EVAL)
        assert hook.step == 3 + 5 * epoch
        with torch.no_grad():
            for i in range(2):
                x, y = batch(10 + i)
                criterion(net(x), y)
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    loss = trial.tensor("CrossEntropyLoss_output_0")
    # smdebug's numbering: one global step per batch, each mode counting its own
    assert trial.steps() == list(range(10))
    assert loss.steps(mode=smd.modes.TRAIN) == [0, 1, 2, 3, 4, 5]
    assert loss.steps(mode=smd.modes.EVAL) == [0, 1, 2, 3]
    train_global = [trial.global_step(smd.modes.TRAIN, s) for s in range(6)]
    eval_global = [trial.global_step(smd.modes.EVAL, s) for s in range(4)]
    assert train_global == [0, 1, 2, 5, 6, 7] and eval_global == [3, 4, 8, 9]
    assert trial.tensor("scalar/epoch").values(mode=smd.modes.EVAL) == {0: 0.0, 2: 1.0}
    assert trial.tensor("scalar/epoch").steps() == [3, 8]


def test_set_mode_without_an_optimizer_counts_forwards(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=1),
                    include_collections=["weights"])  # fmt: skip
    hook.register_module(net)
    hook.set_mode(smd.modes.EVAL)
    net(batch(0)[0])
    hook.set_mode(smd.modes.PREDICT)
    net(batch(1)[0])
    net(batch(2)[0])
    hook.set_mode(smd.modes.EVAL)
    net(batch(3)[0])
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert trial.steps() == [0, 1, 2, 3]
    assert trial.steps(mode=smd.modes.EVAL) == [0, 1]
    assert trial.steps(mode=smd.modes.PREDICT) == [0, 1]
    assert trial.global_step(smd.modes.EVAL, 1) == 3


SEED_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch, torch.nn as nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    own_modes = len(sys.argv) > 1
    if own_modes:  # this script sets modes itself, the smdebug way
        import smdbg.pytorch as smd
        hook = smd.get_hook(create_if_not_exists=True)
        hook.register_module(model)
    eval_losses = []
    for epoch in range(2):
        model.train()
        if own_modes:
            hook.set_mode(smd.modes.TRAIN)
        for i in range(4):
            x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        if own_modes:
            hook.set_mode(smd.modes.PREDICT)
        with torch.no_grad():
            for i in range(2):
                x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
                eval_losses.append(criterion(model(x), y).item())
    json.dump(eval_losses, open("eval_losses.json", "w"))
""")


def _run(tmp_path, *args: str) -> list[float]:  # noqa: ANN001
    (tmp_path / "train.py").write_text(SEED_SCRIPT)
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"LocalPath": str(tmp_path / "trial"), "HookParameters": {"save_interval": "1"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "smdbg.launch_cli", "train.py", *args],  # the config as SageMaker passes it
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT, "SMDEBUG_CONFIG_FILE_PATH": str(config)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "eval_losses.json").read_text())


def test_smdbg_run_follows_model_train_and_eval(tmp_path) -> None:
    eval_losses = _run(tmp_path)
    import smdbg as smd_root  # the seed's last lines

    trial = smd_root.trials.create_trial(str(tmp_path / "trial"))
    values = trial.tensor("CrossEntropyLoss:0").values(mode=smd_root.modes.EVAL)
    assert values == {i: pytest.approx(v) for i, v in enumerate(eval_losses)}
    assert trial.steps(mode=smd_root.modes.TRAIN) == list(range(8))
    assert trial.steps() == list(range(12))
    assert [trial.global_step(smd_root.modes.EVAL, s) for s in range(4)] == [4, 5, 10, 11]
    assert trial.modes() == [smd_root.modes.TRAIN, smd_root.modes.EVAL]


def test_smdbg_run_leaves_modes_to_a_script_that_sets_them(tmp_path) -> None:
    eval_losses = _run(tmp_path, "--own-modes")
    trial = smd.create_trial(str(tmp_path / "trial"))
    loss = trial.tensor("CrossEntropyLoss_output_0")
    assert loss.steps(mode=smd.modes.EVAL) == []
    assert loss.values(mode=smd.modes.PREDICT) == {i: pytest.approx(v) for i, v in enumerate(eval_losses)}
    assert loss.steps(mode=smd.modes.TRAIN) == list(range(8))
