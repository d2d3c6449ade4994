"""The MXNet Gluon hook on a real model: values read back equal what the block held."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import smdbg.mxnet as smd
from tests.mxnet.conftest import BATCH, batches, make_net, train

pytestmark = pytest.mark.mxnet

ALL_BUILTIN = ["weights", "biases", "gradients", "losses", "inputs", "outputs"]


@pytest.mark.parametrize("wrap_trainer", [True, False], ids=["wrapped-trainer", "forward-steps"])
def test_twenty_steps_values_equal_the_blocks(out_dir: str, wrap_trainer: bool) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=3), include_collections=ALL_BUILTIN)
    hook.register_block(net)
    hook.register_hook(loss_fn)  # smdebug's alias
    if wrap_trainer:
        assert hook.wrap_trainer(trainer) is trainer
    hook.set_mode(smd.modes.TRAIN)
    seen = train(net, loss_fn, trainer, batches(20))
    hook.close()

    trial = smd.create_trial(out_dir)
    assert trial.steps() == list(range(0, 20, 3))
    assert trial.steps(mode=smd.modes.TRAIN) == list(range(0, 20, 3))
    params = sorted(seen.weights[0])
    assert params == ["dense0_bias", "dense0_weight", "dense1_bias", "dense1_weight"]
    for step in trial.steps():
        for name in params:
            np.testing.assert_array_equal(trial.tensor(name).value(step), seen.weights[step][name])
            np.testing.assert_array_equal(
                trial.tensor(f"gradient/{name}").value(step), seen.grads[step][name], err_msg=name
            )
        np.testing.assert_array_equal(
            trial.tensor("softmaxcrossentropyloss0_output_0").value(step), seen.losses[step]
        )
    # The weights moved: step 3's weights are not step 0's.
    assert not np.array_equal(trial.tensor("dense0_weight").value(3), seen.weights[0]["dense0_weight"])
    assert trial.tensor("hybridsequential0_input_0").value(0).shape == (BATCH, 6)
    assert trial.tensor("hybridsequential0_output_0").value(0).shape == (BATCH, 3)
    assert trial.tensor("dense0_output_0").value(0).shape == (BATCH, 16)
    assert trial.training_has_ended()


def test_collections_and_names(out_dir: str) -> None:
    net, loss_fn = make_net(name_scope=True), gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_steps=[1]), include_collections=ALL_BUILTIN)
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    data = [(x, mx.nd.one_hot(y, 3)) for x, y in batches(3)]
    train(net, loss_fn, trainer, data)
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.steps() == [0, 1]  # save_steps adds to the interval (default 500), as in smdebug
    assert trial.tensor_names(collection="weights") == [
        "hybridsequential0_dense0_weight",
        "hybridsequential0_dense1_weight",
    ]
    assert trial.tensor_names(collection="biases") == [
        "hybridsequential0_dense0_bias",
        "hybridsequential0_dense1_bias",
    ]
    assert trial.tensor_names(collection="gradients") == [
        "gradient/hybridsequential0_dense0_bias",
        "gradient/hybridsequential0_dense0_weight",
        "gradient/hybridsequential0_dense1_bias",
        "gradient/hybridsequential0_dense1_weight",
    ]
    assert trial.tensor_names(collection="losses") == ["l2loss0_output_0"]
    assert "hybridsequential0_input_0" in trial.tensor_names(collection="inputs")
    assert "l2loss0_input_0" not in trial.tensor_names()  # loss inputs are not saved
    assert "hybridsequential0_dense1_output_0" in trial.tensor_names(collection="outputs")


def test_default_config_saves_losses_only_and_child_hooks_stay_off(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=5))
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    assert not hook.attached.child_hooked  # weights/losses only: no hooks on the child blocks
    seen = train(net, loss_fn, trainer, batches(12))
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.tensor_names() == ["softmaxcrossentropyloss0_output_0"]
    assert trial.steps() == [0, 5, 10]
    for s in (0, 5, 10):
        np.testing.assert_array_equal(
            trial.tensor("softmaxcrossentropyloss0_output_0").value(s), seen.losses[s]
        )


def test_reductions_and_include_regex(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(
        out_dir,
        save_config=smd.SaveConfig(save_interval=1),
        reduction_config=smd.ReductionConfig(reductions=["mean", "max"], norms=["l2"]),
        include_collections=[],
        include_regex=["dense1_output_0", "^dense0_weight"],
    )
    hook.register_block(net)
    hook.wrap_trainer(trainer)
    seen = train(net, loss_fn, trainer, batches(3))
    hook.close()
    trial = smd.create_trial(out_dir)
    assert sorted(trial.tensor_names()) == ["dense0_weight", "dense1_output_0"]
    w = seen.weights[2]["dense0_weight"].astype(np.float64)
    t = trial.tensor("dense0_weight")
    assert t.reduction_value(2, "mean") == pytest.approx(w.mean())
    assert t.reduction_value(2, "max") == pytest.approx(w.max())
    assert t.reduction_value(2, "l2", abs=False) == pytest.approx(np.sqrt((w * w).sum()))


@pytest.mark.parametrize("wrap_trainer", [True, False], ids=["wrapped-trainer", "forward-steps"])
def test_modes_and_evaluation_steps(out_dir: str, wrap_trainer: bool) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1), include_collections=ALL_BUILTIN)
    hook.register_block(net)
    hook.register_block(loss_fn)
    if wrap_trainer:
        hook.wrap_trainer(trainer)
    data = batches(6)
    hook.set_mode(smd.modes.TRAIN)
    seen = train(net, loss_fn, trainer, data[:4])
    hook.set_mode(smd.modes.EVAL)
    for x, y in data[4:]:
        loss_fn(net(x), y)  # no trainer.step: each forward is an eval step
    hook.set_mode(smd.modes.TRAIN)
    last = train(net, loss_fn, trainer, data[:1])
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.steps(mode=smd.modes.TRAIN) == [0, 1, 2, 3, 4]
    assert trial.steps(mode=smd.modes.EVAL) == [0, 1]
    assert trial.steps() == [0, 1, 2, 3, 4, 5, 6]
    assert trial.mode_modestep(4) == (smd.modes.EVAL, 0)
    assert trial.global_step(smd.modes.TRAIN, 4) == 6
    grad = trial.tensor("gradient/dense0_weight")
    assert grad.steps(mode=smd.modes.EVAL) == []  # no backward in evaluation: no gradients
    assert grad.steps(mode=smd.modes.TRAIN) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(grad.value(3, mode=smd.modes.TRAIN), seen.grads[3]["dense0_weight"])
    np.testing.assert_array_equal(grad.value(4, mode=smd.modes.TRAIN), last.grads[0]["dense0_weight"])
    assert trial.tensor("softmaxcrossentropyloss0_output_0").steps(mode=smd.modes.EVAL) == [0, 1]


def test_gradient_accumulation_is_one_step(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    for p in net.collect_params().values():
        p.grad_req = "add"
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1), include_collections=ALL_BUILTIN)
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    data = batches(4)
    expected = {}
    for step in range(2):
        for x, y in data[2 * step : 2 * step + 2]:
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
        expected[step] = net.collect_params()["dense1_weight"].grad().asnumpy().copy()
        trainer.step(2 * 8)
        net.collect_params().zero_grad()
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.steps() == [0, 1]
    for step in (0, 1):
        np.testing.assert_array_equal(trial.tensor("gradient/dense1_weight").value(step), expected[step])


@pytest.mark.filterwarnings("ignore:(?s).*is being hybridized while still having forward hook:UserWarning")  # mxnet's own, expected here
def test_hybridized_block_saves_outer_io_params_and_gradients_and_warns(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=2), include_collections=ALL_BUILTIN)
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    net.hybridize()
    with pytest.warns(RuntimeWarning, match="hybridsequential0 is hybridized"):
        seen = train(net, loss_fn, trainer, batches(6))
    hook.close()
    trial = smd.create_trial(out_dir)
    names = set(trial.tensor_names())
    assert {"hybridsequential0_input_0", "hybridsequential0_output_0"} <= names
    assert not any(n.startswith("dense1_") and "_output_" in n for n in names)  # child I/O not saved
    assert trial.steps() == [0, 2, 4]
    for step in (2, 4):
        np.testing.assert_array_equal(
            trial.tensor("dense1_weight").value(step), seen.weights[step]["dense1_weight"]
        )
        np.testing.assert_array_equal(
            trial.tensor("gradient/dense1_weight").value(step), seen.grads[step]["dense1_weight"]
        )
        np.testing.assert_array_equal(
            trial.tensor("softmaxcrossentropyloss0_output_0").value(step), seen.losses[step]
        )


def test_save_scalar_and_save_tensor(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=2))
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)

    def extras(step: int) -> None:
        hook.save_scalar("lr", trainer.learning_rate * (step + 1))
        hook.save_tensor("custom_nd", mx.nd.full((2, 2), step), "custom")

    train(net, loss_fn, trainer, batches(4), on_step=extras)
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.tensor("lr").values() == {0: pytest.approx(0.1), 1: pytest.approx(0.2), 2: pytest.approx(0.3),
                                           3: pytest.approx(0.4)}  # fmt: skip
    assert "scalars" in trial.tensor("lr").collections()
    assert sorted(trial.tensor("custom_nd").steps()) == [0, 2]
    np.testing.assert_array_equal(trial.tensor("custom_nd").value(2), np.full((2, 2), 2, np.float32))


def test_json_config_and_get_hook(tmp_path: object, out_dir: str) -> None:
    import json
    import os

    cfg = os.path.join(str(tmp_path), "hook.json")
    with open(cfg, "w") as f:
        json.dump(
            {
                "LocalPath": out_dir,
                "HookParameters": {"save_interval": "2"},
                "CollectionConfigurations": [{"CollectionName": "weights"}, {"CollectionName": "gradients"}],
            },
            f,
        )
    assert smd.get_hook() is None
    assert smd.get_hook(cfg, create_if_not_exists=False) is None
    hook = smd.get_hook(cfg, create_if_not_exists=True)
    assert isinstance(hook, smd.Hook) and smd.get_hook() is hook
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook.register_block(net)
    hook.wrap_trainer(trainer)
    train(net, loss_fn, trainer, batches(3))
    hook.close()
    assert smd.get_hook() is None
    trial = smd.create_trial(out_dir)
    assert trial.steps() == [0, 2]
    assert "gradient/dense0_weight" in trial.tensor_names(collection="gradients")
    assert trial.metadata["framework"] == "mxnet"


def test_a_rule_stop_request_ends_training_at_trainer_step(out_dir: str) -> None:
    from smdbg.exceptions import StopTrainingRequested
    from smdbg.store.control import request_stop

    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=1), stop_check_secs=0)
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)

    def maybe_stop(step: int) -> None:
        if step == 3:
            request_stop(out_dir, "loss not decreasing")

    with pytest.raises(StopTrainingRequested, match="loss not decreasing"):
        train(net, loss_fn, trainer, batches(10), on_step=maybe_stop)
    trial = smd.create_trial(out_dir)
    assert trial.training_has_ended()
    assert trial.steps() == [0, 1, 2, 3]
