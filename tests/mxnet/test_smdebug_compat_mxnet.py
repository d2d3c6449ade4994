"""smdebug's documented MXNet hook API (issue 19, item 7), as docs/mxnet.md and docs/api.md show
it: ``register_block``, ``smd.Collection`` with ``add_block_tensors``, ``get_hook``/``set_hook``/
``del_hook``, ``save_scalar`` names, ``set_mode`` numbering, JSON configs with unknown keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mxnet import gluon

import smdbg.mxnet as smd
from smdbg.hook_config import HookConfigWarning
from tests.mxnet.conftest import BATCH, batches, make_net, train

pytestmark = pytest.mark.mxnet


def test_add_block_tensors_and_scalar_names(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir=out_dir, save_config=smd.SaveConfig(save_interval=2),
                    include_collections=["relu_block", "losses"])  # fmt: skip
    hook.get_collection("relu_block").add_block_tensors(net[0], inputs=True)  # before registering
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    hook.set_mode(smd.modes.TRAIN)
    train(net, loss_fn, trainer, batches(4), on_step=lambda step: hook.save_scalar("lr", trainer.learning_rate))
    hook.close()
    trial = smd.create_trial(out_dir)
    assert trial.tensor_names(collection="relu_block") == ["dense0_input_0", "dense0_output_0"]
    assert trial.tensor("dense0_output_0").steps() == [0, 2]
    assert trial.tensor("dense0_output_0").value(0).shape == (BATCH, 16)
    assert "dense1_output_0" not in trial.tensor_names()
    assert trial.tensor("scalar/lr").steps() == [0, 1, 2, 3]
    assert "scalar/lr" in trial.tensor_names(collection="scalars")


def test_set_mode_keeps_the_global_step(out_dir: str) -> None:
    net, loss_fn = make_net(), gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    hook = smd.Hook(out_dir=out_dir, save_config=smd.SaveConfig(save_interval=1))
    hook.register_block(net)
    hook.register_block(loss_fn)
    hook.wrap_trainer(trainer)
    hook.set_mode(smd.modes.TRAIN)
    train(net, loss_fn, trainer, batches(3))
    hook.set_mode(smd.modes.EVAL)
    hook.set_mode(smd.modes.EVAL)
    for x, y in batches(2, seed=5):
        loss_fn(net(x), y)
    hook.close()
    trial = smd.create_trial(out_dir)
    loss = trial.tensor("softmaxcrossentropyloss0_output_0")
    assert trial.steps() == [0, 1, 2, 3, 4]
    assert loss.steps(mode=smd.modes.TRAIN) == [0, 1, 2] and loss.steps(mode=smd.modes.EVAL) == [0, 1]
    assert trial.global_step(smd.modes.EVAL, 0) == 3


def test_get_set_del_hook_and_a_sagemaker_config(tmp_path: Any, out_dir: str) -> None:
    smd.del_hook()
    cfg = tmp_path / "debughookconfig.json"
    cfg.write_text(json.dumps({
        "S3Path": "s3://bucket/prefix", "LocalPath": out_dir,
        "HookParameters": {"save_interval": "2", "reductions": "mean,abs_l2_norm"},
        "CollectionConfigurations": [{"CollectionName": "weights", "CollectionParameters": None}],
    }))  # fmt: skip
    with pytest.warns(HookConfigWarning, match=rf"'{cfg}': ignoring unknown 'S3Path'"):
        hook = smd.get_hook(json_config_path=str(cfg), create_if_not_exists=True)
    assert isinstance(hook, smd.Hook) and smd.get_hook() is hook
    other = smd.Hook(out_dir=str(tmp_path / "other"))
    smd.set_hook(hook)
    assert smd.get_hook() is hook
    smd.del_hook()
    assert smd.get_hook() is None
    with pytest.raises(TypeError, match="set_hook"):
        smd.set_hook(object())  # type: ignore[arg-type]
    net = make_net()
    hook.register_block(net)
    for x, _ in batches(3):
        net(x)
    hook.close()
    other.close()
    weight = smd.create_trial(out_dir).tensor("dense0_weight")
    assert weight.steps() == [0, 2] and sorted(weight.reductions()) == ["abs_l2", "mean"]
