"""Bad input, failures inside the hook, stop requests, JSON config."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.exceptions import StoreWriteError
from smdbg.hook_config import HookConfigWarning
from smdbg.store.control import request_stop


def _train(net, opt, steps, start=0):  # noqa: ANN001, ANN202
    for i in range(start, start + steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(batch(i)[0]), batch(i)[1]).backward()
        opt.step()


def test_bad_input_errors_name_the_value(tmp_path) -> None:
    hook = smd.Hook(tmp_path)
    with pytest.raises(TypeError, match="register_module.*expected a torch.nn.Module.*Tensor"):
        hook.register_module(torch.zeros(2))
    with pytest.raises(TypeError, match="register_loss.*expected a torch.nn.Module"):
        hook.register_loss(lambda a, b: a)
    with pytest.raises(TypeError, match="wrap_optimizer.*expected a torch.optim.Optimizer"):
        hook.wrap_optimizer("sgd")
    with pytest.raises(ValueError, match=r"regex '\(unclosed' does not compile"):
        hook.get_collection("weights").include("(unclosed")
    with pytest.raises(ValueError, match="does not compile"):
        smd.Hook(tmp_path / "x", include_regex="[bad")
    with pytest.raises(ValueError, match="unknown parameter 'save_intervall'"):
        smd.CollectionConfig("weights", {"save_intervall": 10})
    with pytest.raises(ValueError, match="include_workers='two'"):
        smd.Hook(tmp_path / "y", include_workers="two")
    hook.close()


def test_json_config_file_and_get_hook(tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "hook.json"
    cfg.write_text(json.dumps({
        "LocalPath": str(tmp_path / "trial"),
        "HookParameters": {"save_interval": "3", "reductions": "mean,abs_max"},
        "CollectionConfigurations": [{"CollectionName": "weights"}, {"CollectionName": "gradients"}],
    }))  # fmt: skip
    monkeypatch.setenv("SMDBG_CONFIG_FILE_PATH", str(cfg))
    hook = smd.get_hook(create_if_not_exists=True)
    assert isinstance(hook, smd.Hook) and smd.get_hook() is hook
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    _train(net, opt, 7)
    hook.close()
    trial = smd.create_trial(tmp_path / "trial")
    assert trial.steps() == [0, 3, 6]
    assert trial.tensor("gradient/Net_fc1.weight").reductions() == ["abs_max", "mean"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"LocalPath": str(tmp_path), "HookParameters": {"save_intrval": "3"}}))
    with pytest.warns(HookConfigWarning, match=f"'{bad}': ignoring unknown HookParameters key 'save_intrval'"):
        smd.Hook.create_from_json_file(bad).close()  # smdebug's files load with keys it does not know


def test_write_failure_is_raised_to_the_script_and_trial_stays_readable(tmp_path) -> None:
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights"],
                    flush_secs=0.05)  # fmt: skip
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    _train(net, opt, 3)
    hook.flush()
    events = tmp_path / "events" / "worker_0"
    aside = tmp_path / "aside"
    shutil.move(events, aside)
    events.write_text("not a directory")  # the disk "fails": every write under it errors
    deadline = time.monotonic() + 60  # the background writer fails at its next flush, however late
    with pytest.raises(StoreWriteError) as info:
        i = 0
        while time.monotonic() < deadline:
            _train(net, opt, 1, start=3 + i)
            time.sleep(0.01)
            i += 1
    assert info.value.__cause__ is not None
    assert hook.error_count >= 1
    os.remove(events)
    shutil.move(aside, events)
    with pytest.raises(StoreWriteError):
        hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.corrupt_segments == {}
    assert {0, 1, 2} <= set(trial.tensor("Net_fc1.weight").steps(show_incomplete_steps=True))


def test_stop_request_raises_and_closes_the_trial(tmp_path) -> None:
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), stop_check_secs=0.0)
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    _train(net, opt, 2)
    request_stop(str(tmp_path), "loss_not_decreasing fired")
    with pytest.raises(smd.StopTrainingRequested, match="loss_not_decreasing"):
        _train(net, opt, 5, start=2)
    trial = smd.create_trial(tmp_path)
    assert trial.training_has_ended()
    assert smd.get_hook() is None
