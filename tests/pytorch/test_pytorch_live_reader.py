"""A notebook's pattern: train a few steps with the hook, look at the trial, train on — in one
process. Every step the hook has passed is visible at once, whatever the writer's flush interval."""

from __future__ import annotations

import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.trials import StepState


def test_reader_in_the_training_process_sees_every_passed_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net, lossf = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights", "losses"],
                    flush_secs=600)  # fmt: skip
    hook.register_module(net)
    hook.register_loss(lossf)
    hook.wrap_optimizer(opt)  # the step ends at optimizer.step()
    trial = None
    try:
        for step in range(60):
            x, y = batch(step)
            opt.zero_grad()
            loss = lossf(net(x), y)
            loss.backward()
            opt.step()  # the hook's step boundary
            if trial is None:
                trial = smd.create_trial(tmp_path)
            assert trial.last_complete_step() == step
            assert trial.has_passed_step(step) == StepState.AVAILABLE
            assert trial.tensor("CrossEntropyLoss:0").value(step) == loss.item()
            assert trial.tensor("Net_fc1.weight").steps()[-1] == step
    finally:
        hook.close()
