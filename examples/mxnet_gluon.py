"""Debug a Gluon model with smdbg: save weights, gradients and losses, then read them back.

Run in the MXNet environment (MXNet 1.9.1 needs numpy < 1.24):

    bash scripts/setup_mxnet_env.sh
    .venv-mxnet/bin/python examples/mxnet_gluon.py --out-dir /tmp/smdbg-mxnet-demo
"""

from __future__ import annotations

import argparse

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

import smdbg.mxnet as smd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="/tmp/smdbg-mxnet-demo")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()

    # Synthetic 3-class data: the class is the index of the largest of the first three features.
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(args.steps * 32, 10)).astype(np.float32)
    y_all = x_all[:, :3].argmax(axis=1).astype(np.float32)

    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})

    hook = smd.Hook(
        args.out_dir,
        save_config=smd.SaveConfig(save_interval=5),
        include_collections=["weights", "biases", "gradients", "losses"],
    )
    hook.register_block(net)  # the model: parameters, inputs/outputs, step counting
    hook.register_block(loss_fn)  # losses
    hook.wrap_trainer(trainer)  # one step per trainer.step(); gradients saved right before it

    hook.set_mode(smd.modes.TRAIN)
    for i in range(args.steps):
        x = mx.nd.array(x_all[i * 32 : (i + 1) * 32])
        y = mx.nd.array(y_all[i * 32 : (i + 1) * 32])
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(32)
        hook.save_scalar("mean_loss", float(loss.mean().asscalar()))
    hook.set_mode(smd.modes.EVAL)
    loss_fn(net(mx.nd.array(x_all[:64])), mx.nd.array(y_all[:64]))
    hook.close()

    trial = smd.create_trial(args.out_dir)
    grad = trial.tensor("gradient/dense0_weight")
    print("steps with gradients:", grad.steps(mode=smd.modes.TRAIN))
    print("gradients:", trial.tensor_names(collection="gradients"))
    loss_name = trial.tensor_names(collection="losses")[0]
    for step in grad.steps(mode=smd.modes.TRAIN):
        g = grad.value(step, mode=smd.modes.TRAIN)
        mean_loss = float(trial.tensor(loss_name).value(step, mode=smd.modes.TRAIN).mean())
        print(f"step {step:3d}  loss {mean_loss:.4f}  |grad dense0_weight| {np.linalg.norm(g):.4f}")


if __name__ == "__main__":
    main()
