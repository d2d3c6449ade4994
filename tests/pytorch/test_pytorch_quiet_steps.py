"""The fast path of steps known to save nothing (optimizer post-hook), and what must still
happen while it is on: steps counted, config and mode changes, stop requests, live progress."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.hooks import pytorch as hook_module
from smdbg.reductions import ALLOWED_NORMS, ALLOWED_REDUCTIONS, compute_reductions, scalar_reductions
from smdbg.store.control import request_stop


def _hooked(tmp_path, **kw) -> tuple[Net, torch.optim.Optimizer, smd.Hook]:  # noqa: ANN001
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    hook = smd.Hook(tmp_path, **kw)
    hook.register_module(net)
    hook.register_loss(loss := nn.CrossEntropyLoss())
    hook.wrap_optimizer(opt)
    net.loss_fn = loss  # type: ignore[assignment]
    return net, opt, hook


def _step(net: Net, opt: torch.optim.Optimizer, i: int) -> None:
    x, y = batch(i)
    opt.zero_grad()
    net.loss_fn(net(x), y).backward()  # type: ignore[operator]
    opt.step()


def test_quiet_steps_take_the_fast_path_and_saved_steps_still_land(tmp_path, monkeypatch) -> None:
    full = []
    original = hook_module.Hook._opt_post_full
    monkeypatch.setattr(hook_module.Hook, "_opt_post_full", lambda self, o: (full.append(self.step), original(self, o)))
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=10),
                             include_collections=["weights", "losses"])  # fmt: skip
    for i in range(43):
        _step(net, opt, i)
    assert hook.step == 43 and hook.mode_steps[smd.modes.GLOBAL] == 43
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.tensor("Net_fc1.weight").steps() == [0, 10, 20, 30, 40]
    assert trial.tensor("CrossEntropyLoss_output_0").steps() == [0, 10, 20, 30, 40]
    # the full path ran at the saved steps, the steps right after them and the writer's ticks;
    # the other quiet steps were only counted
    assert len(full) < 25, full
    assert {0, 9, 10, 19, 20} <= set(full)


def test_a_save_config_change_is_seen_at_the_next_step(tmp_path) -> None:
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=1000),
                             include_collections=["weights"])  # fmt: skip
    for i in range(4):
        _step(net, opt, i)
    hook.get_collection("weights").save_config = smd.SaveConfig(save_interval=1)
    for i in range(4, 7):
        _step(net, opt, i)
    hook.close()
    assert smd.create_trial(tmp_path).tensor("Net_fc1.weight").steps() == [0, 5, 6]


def test_mode_steps_stay_exact_across_modes(tmp_path) -> None:
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=1000))
    hook.set_mode(smd.modes.TRAIN)
    for i in range(7):
        _step(net, opt, i)
    hook.set_mode(smd.modes.EVAL)
    with torch.no_grad():
        for i in range(2):
            net(batch(100 + i)[0])
    hook.set_mode(smd.modes.TRAIN)
    for i in range(3):
        _step(net, opt, i)
    assert hook.mode_steps[smd.modes.TRAIN] == 10
    assert hook.mode_steps[smd.modes.EVAL] == 2
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.last_complete_step() >= 11


def test_a_stop_request_is_seen_while_steps_are_quiet(tmp_path) -> None:
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=100000), stop_check_secs=0.05)
    for i in range(3):
        _step(net, opt, i)
    request_stop(str(tmp_path), "planted")
    t0 = time.monotonic()
    with pytest.raises(smd.StopTrainingRequested, match="planted"):
        for i in range(100000):
            _step(net, opt, i)
            assert time.monotonic() - t0 < 60, "the stop request was not seen"
    assert smd.create_trial(tmp_path).training_has_ended()


def test_progress_is_published_while_steps_are_quiet(tmp_path) -> None:
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=100000), flush_secs=0.05)
    _step(net, opt, 0)
    trial = smd.create_trial(tmp_path)
    deadline = time.monotonic() + 60
    i = 1
    while trial.last_complete_step() < 20:  # a reader sees training move on, nothing saved
        assert time.monotonic() < deadline, f"progress stuck at {trial.last_complete_step()}"
        _step(net, opt, i)
        i += 1
        time.sleep(0.002)
    hook.close()


def test_collection_name_sets_changed_directly_are_seen(tmp_path) -> None:
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["custom"])
    coll = hook.get_collection("custom")
    _step(net, opt, 0)
    coll.tensor_names.add("Net_fc2.bias")  # not through add_tensor_name
    for i in (1, 2):  # changes take effect from the next step (step 1 was planned already)
        _step(net, opt, i)
    coll.tensor_names = {"Net_fc1.bias"}  # a plain set assigned: its changes count too
    coll.tensor_names |= {"Net_fc2.weight"}
    for i in (3, 4):
        _step(net, opt, i)
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.tensor("Net_fc2.bias").steps() == [2, 3]
    assert trial.tensor("Net_fc2.weight").steps() == [4]
    assert trial.tensor("Net_fc1.bias").steps() == [4]


def test_watch_forward_runs_only_at_steps_that_save_its_tensor(tmp_path) -> None:
    """An integration's forward hook (Hook.watch_forward) is on the model only at the steps that
    save its tensor, in TRAIN and in EVAL (where each forward is a step), and with the training
    flag followed (the pre-hook's fast path while training)."""
    net, opt, hook = _hooked(tmp_path, save_config=smd.SaveConfig(save_interval=3))
    seen: list[tuple[str, int]] = []
    hook.watch_forward(net, "loss_output_0", lambda m, a, o: seen.append((hook.mode.name, hook.mode_steps[hook.mode])))  # fmt: skip
    hook.follow_train_eval()
    for i in range(7):
        _step(net, opt, i)
        assert (len(net._forward_hooks) == 1) == ((i + 1) % 3 == 0)  # the next step saves: attached now
    net.eval()
    with torch.no_grad():
        for i in range(4):
            net(batch(100 + i)[0])
    net.train()
    _step(net, opt, 7)
    hook.close()
    assert seen == [("TRAIN", 0), ("TRAIN", 3), ("TRAIN", 6), ("EVAL", 0), ("EVAL", 3)]
    assert not net._forward_hooks and not net._forward_pre_hooks
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        hook.watch_forward("net", "loss_output_0", print)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [2.5, -3.0, 0.0, math.inf, -math.inf, math.nan])
def test_scalar_reductions_follow_compute_reductions(value: float) -> None:
    names = (*ALLOWED_REDUCTIONS, *ALLOWED_NORMS)
    keys = names + tuple(f"abs_{k}" for k in names)
    got = scalar_reductions(value, keys)
    with np.errstate(all="ignore"):
        want = compute_reductions(np.array([value]), keys)
    assert list(got) == list(keys)
    for k in keys:
        assert got[k] == pytest.approx(want[k], nan_ok=True), k
    with pytest.raises(ValueError, match="nope"):
        scalar_reductions(1.0, ("nope",))
