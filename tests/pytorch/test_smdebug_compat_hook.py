"""smdebug's documented hook surface, used as an smdebug script uses it (issue 19, item 1):
``register_hook``, ``get_hook``/``set_hook``/``del_hook``, ``smd.Collection`` with
``add_module_tensors``, collection edits after ``register_module``, ``tensorboard_dir``, and
JSON round trips and equality of the configs and collections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd


def _train(hook: smd.Hook, net: Net, steps: range, on_step=None) -> None:  # noqa: ANN001
    loss_fn = nn.CrossEntropyLoss()
    hook.register_loss(loss_fn)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook.wrap_optimizer(opt)
    for i in steps:
        if on_step is not None:
            on_step(i)
        x, y = batch(i)
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()


def test_register_hook_is_register_module(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), include_collections=["weights"],
                    save_config=smd.SaveConfig(save_interval=1))  # fmt: skip
    hook.register_hook(net)
    net(batch(0)[0])
    hook.close()
    assert "Net_fc1.weight" in smd.create_trial(str(tmp_path / "run")).tensor_names(collection="weights")


def test_get_set_del_hook(tmp_path) -> None:
    smd.del_hook()
    assert smd.get_hook() is None
    first = smd.Hook(out_dir=str(tmp_path / "a"))
    second = smd.Hook(out_dir=str(tmp_path / "b"))
    assert smd.get_hook() is second  # the last one created, as smdebug's singleton
    smd.set_hook(first)
    assert smd.get_hook(create_if_not_exists=True) is first
    smd.del_hook()
    assert smd.get_hook() is None
    with pytest.raises(TypeError, match="set_hook.*expected a smdbg.hooks.torch._hook.Hook"):
        smd.set_hook("not a hook")  # type: ignore[arg-type]
    second.close()
    with pytest.raises(ValueError, match="is closed"):
        smd.set_hook(second)
    first.close()
    cfg = tmp_path / "hook.json"
    cfg.write_text('{"LocalPath": "%s"}' % (tmp_path / "from-json"))
    hook = smd.get_hook(json_config_path=str(cfg), create_if_not_exists=True)
    assert isinstance(hook, smd.Hook) and hook.out_dir == str(tmp_path / "from-json")
    hook.close()


def test_collection_add_module_tensors(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=2),
                    include_collections=["relu_activations", "fc2_io", "losses"])  # fmt: skip
    hook.get_collection("relu_activations").add_module_tensors(net.relu)  # outputs only, by default
    hook.register_module(net)
    hook.get_collection("fc2_io").add_module_tensors(net.fc2, inputs=True, outputs=True)  # after registering
    _train(hook, net, range(4))
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert trial.tensor_names(collection="relu_activations") == ["relu_output_0"]
    assert trial.tensor_names(collection="fc2_io") == ["fc2_input_0", "fc2_output_0"]
    assert trial.tensor("relu_output_0").steps() == [0, 2]
    assert "relu_input_0" not in trial.tensor_names()
    assert min(trial.tensor("relu_output_0").value(0).ravel()) >= 0.0
    with pytest.raises(ValueError, match="saves nothing"):
        smd.Collection("c").add_module_tensors(net.fc1, inputs=False, outputs=False)


def test_collection_edits_after_register_module_apply_from_the_next_step(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=1),
                    include_collections=["custom", "losses"])  # fmt: skip
    hook.register_module(net)

    def edit(step: int) -> None:
        if step == 2:  # during step 2: effective from step 3
            hook.get_collection("custom").include("relu")
        if step == 4:
            hook.get_collection("custom").reduction_config = smd.ReductionConfig(reductions=["max"])
            hook.add_collection(smd.Collection("late", include_regex=["fc1.weight$"]))
        if step == 6:
            hook.get_collection("late").save_config = smd.SaveConfig(save_interval=2)

    _train(hook, net, range(10), on_step=edit)
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    assert trial.tensor("relu_output_0").steps() == list(range(3, 10))
    assert "max" in trial.tensor("relu_output_0").reductions()
    assert trial.tensor("relu_output_0").reduction_value(5, "max") is not None
    assert trial.tensor("relu_output_0").value(3).shape == (16, 8)  # raw before the reduction config
    # a newly included collection applies at once (step 4), a changed save config from the next step
    assert trial.tensor("Net_fc1.weight").steps() == [4, 5, 6, 8]
    assert "Net_fc1.weight" in trial.tensor_names(collection="late")


def test_tensorboard_dir_is_none_without_export(tmp_path) -> None:
    assert smd.Hook(out_dir=str(tmp_path / "a")).tensorboard_dir is None
    assert smd.Hook(out_dir=str(tmp_path / "b"), tensorboard_dir=str(tmp_path / "tb")).tensorboard_dir is None
    assert smd.Hook(out_dir=str(tmp_path / "c"), export_tensorboard=True).tensorboard_dir == str(
        tmp_path / "c" / "tensorboard"
    )
    hook = smd.Hook(out_dir=str(tmp_path / "d"), export_tensorboard=True, tensorboard_dir=str(tmp_path / "tb"))
    assert hook.tensorboard_dir == str(tmp_path / "tb")
    smd.del_hook()


def test_configs_and_collections_round_trip_through_json() -> None:
    save = smd.SaveConfig(mode_save_configs={
        smd.modes.TRAIN: smd.SaveConfigMode(save_interval=10), smd.modes.EVAL: smd.SaveConfigMode(save_steps=[1, 3]),
    })  # fmt: skip
    assert smd.SaveConfig.from_json(save.to_json()) == save
    assert smd.SaveConfig.from_json(save.to_json()) != smd.SaveConfig(save_interval=10)
    assert save.to_json_dict()["PREDICT"] is None  # left to the hook's config, as in smdebug
    reduction = smd.ReductionConfig(reductions=["min", "max"], abs_reductions=["mean"], norms=["l2"],
                                    abs_norms=["l1"], save_raw_tensor=True)  # fmt: skip
    assert reduction.to_json_dict() == {"save_raw_tensor": True, "reductions": "min,max,l2_norm,abs_mean,abs_l1_norm"}
    assert smd.ReductionConfig.from_json(reduction.to_json()) == reduction
    assert smd.ReductionConfig.from_json('{"reductions": "abs_l2_norm,mean"}') == smd.ReductionConfig(
        reductions=["mean"], abs_norms=["l2"]
    )
    coll = smd.Collection("custom", include_regex=["relu"], tensor_names=["x"], reduction_config=reduction,
                          save_config=save, save_histogram=False)  # fmt: skip
    again = smd.Collection.from_json(coll.to_json())
    assert again == coll and hash(again) == hash(coll)
    again.include("fc")
    assert again != coll
    assert smd.Collection("a") != smd.Collection("b")
    with pytest.raises(ValueError, match="not valid JSON"):
        smd.SaveConfig.from_json("{save_interval")
    with pytest.raises(TypeError, match="reduction_config='mean': expected smd.ReductionConfig"):
        coll.reduction_config = "mean"  # type: ignore[assignment]


def test_collection_save_config_as_a_dict_of_modes_inherits_the_rest(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(out_dir=str(tmp_path / "run"), save_config=smd.SaveConfig(save_interval=2),
                    include_collections=["weights"])  # fmt: skip
    hook.get_collection("weights").save_config = {smd.modes.EVAL: smd.SaveConfigMode(save_interval=1)}
    hook.register_module(net)
    hook.set_mode(smd.modes.TRAIN)
    _train(hook, net, range(4))
    hook.set_mode(smd.modes.EVAL)
    with torch.no_grad():
        for i in range(3):
            net(batch(i)[0])
    hook.close()
    trial = smd.create_trial(str(tmp_path / "run"))
    weight = trial.tensor("Net_fc1.weight")
    assert weight.steps(mode=smd.modes.TRAIN) == [0, 2]  # TRAIN: the hook's config
    assert weight.steps(mode=smd.modes.EVAL) == [0, 1, 2]  # EVAL: the collection's
    np.testing.assert_array_equal(weight.value(0, mode=smd.modes.EVAL), net.fc1.weight.detach().numpy())
