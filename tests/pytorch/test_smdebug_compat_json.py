"""smdebug's documented JSON hook configs load unchanged (issue 19, item 6): keys smdbg does not
use (``S3Path``) are ignored with a warning naming key and file; wrong values still fail,
naming the file."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.hook_config import HookConfigWarning


def smdebug_documented_config(out_dir: str) -> dict:
    """The example of smdebug's ``core/json_config.py`` (its trailing comma removed, paths and
    regexes made to match this model), every key and spelling as documented there."""
    return {
        "S3Path": "s3://bucket/prefix",
        "LocalPath": out_dir,
        "HookParameters": {
            "export_tensorboard": True,
            "tensorboard_dir": out_dir + "/tb",
            "save_all": False,
            "include_regex": "fc1_output,relu_output",
            "save_interval": 100,
            "save_steps": "1,2,3,4",
            "start_step": 1,
            "reductions": "min,max,mean,std,abs_variance,abs_sum,abs_l2_norm",
        },
        "CollectionConfigurations": [
            {
                "CollectionName": "weights",
                "CollectionParameters": {
                    "include_regex": "fc2.*",
                    "save_interval": 100,
                    "save_steps": "1,2,3",
                    "start_step": 1,
                    "reductions": "min,abs_max,l1_norm,abs_l2_norm",
                },
            },
            {
                "CollectionName": "losses",
                "CollectionParameters": {"train.save_interval": 100, "eval.save_interval": 1, "save_steps": "1,2,3"},
            },
        ],
    }


def test_smdebug_documented_config_loads_unchanged(tmp_path) -> None:
    out = str(tmp_path / "run")
    path = tmp_path / "debughookconfig.json"
    path.write_text(json.dumps(smdebug_documented_config(out)))
    with pytest.warns(HookConfigWarning, match=rf"hook config '{path}': ignoring unknown 'S3Path'"):
        hook = smd.Hook.create_from_json_file(str(path))
    assert hook.out_dir == out and hook.tensorboard_dir == out + "/tb"
    net, criterion = Net(), nn.CrossEntropyLoss()
    hook.register_module(net)
    hook.register_loss(criterion)
    optimizer = hook.wrap_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
    hook.set_mode(smd.modes.TRAIN)
    for i in range(6):
        x, y = batch(i)
        optimizer.zero_grad()
        criterion(net(x), y).backward()
        optimizer.step()
    hook.set_mode(smd.modes.EVAL)
    with torch.no_grad():
        for i in range(2):
            criterion(net(batch(i)[0]), batch(i)[1])
    hook.close()

    trial = smd.create_trial(out)
    weight = trial.tensor("Net_fc2.weight")
    assert weight.steps(mode=smd.modes.TRAIN) == [1, 2, 3]
    assert sorted(weight.reductions()) == ["abs_l2", "abs_max", "l1", "min"]
    relu = trial.tensor("relu_output_0")  # HookParameters' include_regex -> collection "default"
    assert relu.steps(mode=smd.modes.TRAIN) == [1, 2, 3, 4]
    assert sorted(relu.reductions()) == ["abs_l2", "abs_sum", "abs_variance", "max", "mean", "min", "std"]
    loss = trial.tensor("CrossEntropyLoss_output_0")
    # per mode: the collection's keys, then the hook's (start_step 1), as smdebug merges them
    assert loss.steps(mode=smd.modes.TRAIN) == [1, 2, 3] and loss.steps(mode=smd.modes.EVAL) == [1]


def test_unknown_keys_warn_naming_key_and_file(tmp_path) -> None:
    config = smdebug_documented_config(str(tmp_path / "run"))
    config["HookParameters"]["save_intervall"] = "5"
    config["CollectionConfigurations"][0]["CollectionParameters"]["reductionz"] = "mean"
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(config))
    with pytest.warns(HookConfigWarning) as caught:
        hook = smd.Hook.create_from_json_file(str(path))
    messages = [str(w.message) for w in caught]
    assert any(f"'{path}'" in m and "HookParameters key 'save_intervall'" in m for m in messages)
    assert any(f"'{path}'" in m and "parameter 'reductionz' of collection 'weights'" in m for m in messages)
    hook.close()


@pytest.mark.parametrize(
    "where, key, value, match",
    [
        ("HookParameters", "save_interval", "often", "save_interval='often': expected an integer"),
        ("HookParameters", "save_all", "maybe", "save_all='maybe': expected true or false"),
        ("HookParameters", "reductions", "mean,median", "reductions contains 'median'"),
        ("top", "HookParameters", ["save_interval"], "HookParameters=.*expected a JSON object"),
        ("top", "CollectionConfigurations", {"CollectionName": "x"}, "CollectionConfigurations: expected a list"),
        ("collection", "start_step", -1, "start_step=-1: expected an integer >= 0"),
    ],
)
def test_wrong_values_fail_naming_the_file(tmp_path, where: str, key: str, value: object, match: str) -> None:
    config = smdebug_documented_config(str(tmp_path / "run"))
    target = {"top": config, "HookParameters": config["HookParameters"],
              "collection": config["CollectionConfigurations"][0]["CollectionParameters"]}[where]  # fmt: skip
    target[key] = value
    path = tmp_path / "hook.json"
    path.write_text(json.dumps(config))
    with pytest.warns(HookConfigWarning), pytest.raises(ValueError, match=rf"^hook config '{path}': .*{match}"):
        smd.Hook.create_from_json_file(str(path))
    assert not (tmp_path / "run").exists()  # nothing written
