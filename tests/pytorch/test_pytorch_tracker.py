"""A hook with ``tracker=``: losses and ``save_scalar`` values reach a real tracker (SQLite),
logged from the hook's mirror thread, with the training step as iteration number."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.tracker import DEBUGGER_TRIAL_MEDIA_TYPE, Tracker, TrialComponent, close_all


@pytest.fixture
def db_url(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("SMDBG_ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    yield f"sqlite:///{tmp_path / 'db' / 'tracker.db'}"
    close_all()


def test_losses_and_scalars_are_mirrored_to_the_tracker(tmp_path, db_url: str) -> None:
    tracker = Tracker.create(display_name="training", db_url=db_url)
    net, lossf = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path / "trial", tracker=tracker, save_config=smd.SaveConfig(save_interval=2))
    hook.register_module(net)
    hook.register_loss(lossf)
    hook.wrap_optimizer(opt)
    losses = {}
    for i in range(5):
        opt.zero_grad()
        loss = lossf(net(batch(i)[0]), batch(i)[1])
        loss.backward()
        losses[i] = loss.item()
        hook.save_scalar("lr", 0.1 / (i + 1), timestamp=1_000_000.0 + i)
        opt.step()
    hook.close()
    tracker.close()
    tc = TrialComponent.load(tracker.trial_component_name, db_url=db_url)
    points = tc.metric_points()
    loss_points = points["CrossEntropyLoss_output_0"]
    assert list(loss_points.iterations) == [0, 2, 4]
    assert list(loss_points.values) == pytest.approx([losses[s] for s in (0, 2, 4)], rel=1e-6)
    lr = points["lr"]
    assert list(lr.iterations) == [0, 1, 2, 3, 4]  # save_scalar saves at every step
    assert list(lr.values) == pytest.approx([0.1 / (i + 1) for i in range(5)])
    assert list(lr.timestamps) == pytest.approx([1_000_000.0 + i for i in range(5)])  # the script's timestamps
    art = tc.output_artifacts["debugger-trial"]
    assert (art.value, art.media_type) == (str(tmp_path / "trial"), DEBUGGER_TRIAL_MEDIA_TYPE)
    trial = smd.create_trial(tmp_path / "trial")
    assert trial.tensor("CrossEntropyLoss_output_0").steps() == [0, 2, 4]
