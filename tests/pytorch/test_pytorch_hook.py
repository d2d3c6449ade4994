"""The PyTorch hook against values read from the model at the same step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.reductions import compute_reductions

ALL = ["weights", "biases", "gradients", "losses", "outputs", "inputs", "optimizer_variables"]


def test_import_surface() -> None:
    for name in ("Hook", "SaveConfig", "SaveConfigMode", "ReductionConfig", "CollectionConfig",
                 "modes", "get_hook", "create_trial"):  # fmt: skip
        assert hasattr(smd, name), name
    assert smd.modes.EVAL.name == "EVAL"


def test_weights_gradients_adam_state_match_the_model(tmp_path) -> None:
    net, lossf = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=2), include_collections=ALL)
    hook.register_module(net)
    hook.register_loss(lossf)
    assert hook.wrap_optimizer(opt) is opt
    ref = {}
    for i in range(5):
        x, y = batch(i)
        opt.zero_grad()
        out = net(x)
        loss = lossf(out, y)
        loss.backward()
        w, g = net.fc1.weight.detach().clone(), net.fc1.weight.grad.clone()
        opt.step()
        st = opt.state[net.fc1.weight]
        ref[i] = dict(w=w, g=g, m=st["exp_avg"].clone(), v=st["exp_avg_sq"].clone(), out=out.detach(),
                      loss=loss.item(), x=x)  # fmt: skip
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.steps() == [0, 2, 4]
    for s in (0, 2, 4):
        r = ref[s]
        np.testing.assert_array_equal(trial.tensor("Net_fc1.weight").value(s), r["w"].numpy())
        np.testing.assert_array_equal(trial.tensor("gradient/Net_fc1.weight").value(s), r["g"].numpy())
        np.testing.assert_array_equal(trial.tensor("Adam_Net_fc1.weight_exp_avg").value(s), r["m"].numpy())
        np.testing.assert_array_equal(trial.tensor("Adam_Net_fc1.weight_exp_avg_sq").value(s), r["v"].numpy())
        np.testing.assert_allclose(trial.tensor("Net_output_0").value(s), r["out"].numpy())
        np.testing.assert_allclose(trial.tensor("fc1_input_0").value(s), r["x"].numpy())
        assert float(trial.tensor("CrossEntropyLoss_output_0").value(s)) == pytest.approx(r["loss"])
    assert "Net_fc1.bias" in trial.tensor_names(collection="biases")
    assert "Net_fc1.weight" in trial.tensor_names(collection="weights")
    assert "gradient/Net_fc2.weight" in trial.tensor_names(collection="gradients")
    assert "Adam_Net_fc2.bias_exp_avg" in trial.tensor_names(collection="optimizer_variables")
    assert "CrossEntropyLoss_output_0" in trial.tensor_names(collection="losses")


def test_gradient_accumulation_is_one_step(tmp_path) -> None:
    net, lossf = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(
        tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["gradients", "losses"]
    )
    hook.register_module(net)
    hook.register_loss(lossf)
    hook.wrap_optimizer(opt)
    grads = []
    for step in range(3):
        opt.zero_grad()
        for micro in range(4):
            x, y = batch(step * 10 + micro)
            (lossf(net(x), y) / 4).backward()
        grads.append(net.fc2.weight.grad.clone())
        opt.step()
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.steps() == [0, 1, 2]
    for s in range(3):
        np.testing.assert_array_equal(trial.tensor("gradient/Net_fc2.weight").value(s), grads[s].numpy())
    # the loss module ran 4 times per step: later calls are kept under their own names
    assert trial.has_tensor("CrossEntropyLoss_call3_output_0")


def test_reductions_match_numpy_definitions(tmp_path) -> None:
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rc = smd.ReductionConfig(reductions=["mean", "max", "min", "std", "variance", "sum", "prod"],
                             abs_reductions=["max", "min", "mean"], norms=["l1", "l2"], abs_norms=["l2"])  # fmt: skip
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), reduction_config=rc,
                    include_collections=["weights", "gradients", "outputs"])  # fmt: skip
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    x, y = batch(1)
    opt.zero_grad()
    out = net(x)
    nn.functional.cross_entropy(out, y).backward()
    ref = {"Net_fc1.weight": net.fc1.weight.detach().clone().numpy(), "fc2_output_0": out.detach().numpy(),
           "gradient/Net_fc2.bias": net.fc2.bias.grad.clone().numpy()}  # fmt: skip
    opt.step()
    hook.close()
    trial = smd.create_trial(tmp_path)
    for name, arr in ref.items():
        t = trial.tensor(name)
        assert "raw" not in t.reductions()
        expected = compute_reductions(arr, rc.keys)
        for key, value in expected.items():
            got = t.reduction_value(0, key[4:] if key.startswith("abs_") else key, abs=key.startswith("abs_"))
            assert got == pytest.approx(value, rel=1e-5, abs=1e-6), (name, key)


def test_without_optimizer_step_advances_per_forward_and_modes(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(
        tmp_path,
        save_config=smd.SaveConfig(save_interval=1),
        include_collections=["weights", "gradients", "outputs"],
    )
    hook.register_module(net)
    hook.set_mode(smd.modes.TRAIN)
    grads = []
    for i in range(3):
        net.zero_grad()
        x, y = batch(i)
        nn.functional.cross_entropy(net(x), y).backward()
        grads.append(net.fc1.weight.grad.clone())
        with torch.no_grad():
            for p in net.parameters():
                p -= 0.1 * p.grad
    hook.set_mode(smd.modes.EVAL)
    with torch.no_grad():
        for i in range(2):
            net(batch(100 + i)[0])
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.steps() == [0, 1, 2, 3, 4]
    assert trial.steps(mode=smd.modes.TRAIN) == [0, 1, 2]
    assert trial.steps(mode=smd.modes.EVAL) == [0, 1]
    for s in range(3):
        np.testing.assert_array_equal(
            trial.tensor("gradient/Net_fc1.weight").value(s, mode=smd.modes.TRAIN), grads[s].numpy()
        )
    assert trial.tensor("fc2_output_0").steps(mode=smd.modes.EVAL) == [0, 1]
    assert trial.mode_modestep(3) == (smd.modes.EVAL, 0)


def test_frozen_params_twice_called_module_tuple_and_dict_outputs_nan(tmp_path) -> None:
    class Multi(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared = nn.Linear(4, 4)
            self.frozen = nn.Linear(4, 4)
            self.frozen.requires_grad_(False)

        def forward(self, x):  # noqa: ANN001
            a = self.shared(x)
            b = self.shared(a)  # called twice in one step
            return a, {"b": b, "c": self.frozen(x) * float("nan")}

    model = Multi()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    hook = smd.Hook(
        tmp_path,
        save_config=smd.SaveConfig(save_interval=1),
        include_collections=["weights", "gradients", "outputs"],
    )
    hook.register_module(model)
    hook.wrap_optimizer(opt)
    x = torch.randn(2, 4)
    opt.zero_grad()
    a, d = model(x)
    (a.sum() + d["b"].sum()).backward()
    opt.step()
    hook.close()
    trial = smd.create_trial(tmp_path)
    names = trial.tensor_names()
    assert {
        "shared_output_0",
        "shared_call1_output_0",
        "Multi_output_0",
        "Multi_output_1",
        "Multi_output_2",
    } <= set(names)
    np.testing.assert_allclose(trial.tensor("shared_call1_output_0").value(0), d["b"].detach().numpy())
    assert "Multi_frozen.weight" in names  # frozen and outside the optimizer: still saved (smdebug did)
    assert "gradient/Multi_frozen.weight" not in names
    assert np.isnan(trial.tensor("Multi_output_2").value(0)).all()
    assert "gradient/Multi_shared.weight" in names


def test_nan_reductions_are_stored_as_nan(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights"],
                    reduction_config=smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"]))  # fmt: skip
    hook.register_module(net)
    with torch.no_grad():
        net.fc1.weight[0, 0] = float("inf")
        net.fc2.weight[0, 0] = float("nan")
    net(batch(0)[0])
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.tensor("Net_fc1.weight").reduction_value(0, "max", abs=True) == float("inf")
    assert np.isnan(trial.tensor("Net_fc2.weight").reduction_value(0, "mean"))
    assert np.isnan(trial.tensor("Net_fc2.weight").reduction_value(0, "l2"))


def test_save_all_include_regex_and_collection_configs(tmp_path) -> None:
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path / "all", save_all=True, save_config=smd.SaveConfig(save_interval=1))
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    for i in range(2):
        opt.zero_grad()
        net(batch(i)[0]).sum().backward()
        opt.step()
    hook.close()
    names = smd.create_trial(tmp_path / "all").tensor_names()
    assert {"Net_fc1.weight", "gradient/Net_fc1.weight", "fc1_output_0", "relu_input_0"} <= set(names)

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path / "rx", include_regex="fc2", save_config=smd.SaveConfig(save_interval=100),
                    include_collections=["weights"])  # fmt: skip
    hook.get_collection("weights").save_config = smd.SaveConfig(save_interval=2)
    hook.get_collection("default").save_config = smd.SaveConfig(save_interval=3)
    hook.register_module(net)
    hook.wrap_optimizer(opt)
    for i in range(7):
        opt.zero_grad()
        net(batch(i)[0]).sum().backward()
        opt.step()
    hook.close()
    trial = smd.create_trial(tmp_path / "rx")
    assert trial.tensor("Net_fc1.weight").steps() == [0, 2, 4, 6]
    assert trial.tensor("fc2_output_0").steps() == [0, 3, 6]
    assert "fc1_output_0" not in trial.tensor_names()


def test_custom_collection_include_and_save_apis(tmp_path) -> None:
    net = Net()
    hook = smd.Hook(
        tmp_path, save_config=smd.SaveConfig(save_interval=1), include_collections=["relus", "losses"]
    )
    hook.get_collection("relus").include("relu_output")
    hook.get_collection("relus").reduction_config = smd.ReductionConfig(reductions=["max"])
    hook.register_module(net)
    out = net(batch(0)[0])
    hook.save_scalar("lr", 0.5)
    hook.save_tensor("my_tensor", torch.arange(3.0), collections_to_write="custom")
    hook.record_tensor_value("my_loss", out.sum())
    net(batch(1)[0])
    hook.close()
    trial = smd.create_trial(tmp_path)
    assert trial.tensor("relu_output_0").reductions() == ["max"]
    assert trial.tensor("relu_output_0").steps() == [0, 1]
    assert float(trial.tensor("lr").value(0)) == 0.5
    np.testing.assert_array_equal(trial.tensor("my_tensor").value(0), [0.0, 1.0, 2.0])
    assert float(trial.tensor("my_loss_output_0").value(0)) == pytest.approx(float(out.detach().sum()))
    assert "my_loss_output_0" in trial.tensor_names(collection="losses")  # smdebug's loss pattern
    assert trial.tensor("scalar/lr").steps() == [0]
    assert "my_tensor" in trial.tensor_names(collection="custom")


def test_close_idempotent_and_context_manager(tmp_path) -> None:
    net = Net()
    with smd.Hook(
        tmp_path, include_collections=["weights"], save_config=smd.SaveConfig(save_interval=1)
    ) as hook:
        hook.register_module(net)
        net(batch(0)[0])
        assert smd.get_hook() is hook
    hook.close()
    assert smd.get_hook() is None
    trial = smd.create_trial(tmp_path)
    assert trial.training_has_ended()
    assert trial.steps() == [0]


def test_frozen_layer_outside_the_optimizer_is_still_saved(tmp_path):
    """The common idiom SGD(p for p in params if p.requires_grad) must not hide frozen layers."""
    import torch

    import smdbg.pytorch as smd

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model[0].requires_grad_(False)
    hook = smd.Hook(
        str(tmp_path / "t"),
        save_config=smd.SaveConfig(save_interval=1),
        include_collections=["weights", "gradients"],
    )
    hook.register_module(model)
    opt = hook.wrap_optimizer(torch.optim.SGD((p for p in model.parameters() if p.requires_grad), lr=0.1))
    frozen = model[0].weight.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
    hook.close()
    trial = smd.create_trial(str(tmp_path / "t"))
    assert trial.tensor("Sequential_0.weight").steps() == [0, 1, 2]
    assert torch.equal(torch.from_numpy(trial.tensor("Sequential_0.weight").value(2)), frozen)
    assert "gradient/Sequential_0.weight" not in trial.tensor_names()  # frozen: no gradient
    assert trial.tensor("gradient/Sequential_2.weight").steps() == [0, 1, 2]
