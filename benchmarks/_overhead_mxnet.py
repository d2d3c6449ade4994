"""MXNet Gluon cases of the hook-overhead benchmark (runs in .venv-mxnet).

    .venv-mxnet/bin/python benchmarks/hook_overhead.py --framework mxnet --steps 50 --repeats 5

``cases(args)`` returns ``(model, config, plain_fn, hooked_fn)`` tuples; each function runs
``args.steps`` training steps (after ``args.warmup`` untimed ones) and returns seconds per
step. The plain function trains the same model without a hook, so each ratio compares like
with like within one run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _overhead_configs import CONFIGS, hook_kwargs

__all__ = ["cases", "CONFIGS", "run", "main"]

BATCH = 64


def _model(kind: str) -> tuple[Any, Any, Any, Any, Any]:
    import mxnet as mx
    from mxnet import gluon

    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    if kind == "mlp":
        net.add(
            gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(10)
        )
        x = mx.nd.random.normal(shape=(BATCH, 128))
    else:  # small CNN on 28x28 images
        net.add(
            gluon.nn.Conv2D(16, 3, activation="relu"),
            gluon.nn.MaxPool2D(2),
            gluon.nn.Conv2D(32, 3, activation="relu"),
            gluon.nn.MaxPool2D(2),
            gluon.nn.Flatten(),
            gluon.nn.Dense(10),
        )
        x = mx.nd.random.normal(shape=(BATCH, 1, 28, 28))
    net.initialize(mx.init.Xavier())
    y = mx.nd.array([i % 10 for i in range(BATCH)])
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    return net, loss_fn, trainer, x, y


def _train(kind: str, config: dict[str, Any] | None, steps: int, warmup: int) -> float:
    import mxnet as mx
    from mxnet import autograd

    import smdbg.mxnet as smd

    net, loss_fn, trainer, x, y = _model(kind)
    out = tempfile.mkdtemp(prefix="smdbg-bench-mx-")
    hook = None
    if config is not None:
        hook = smd.Hook(out, **hook_kwargs(smd, config))
        hook.register_block(net)
        hook.register_block(loss_fn)
        hook.wrap_trainer(trainer)
    try:
        for i in range(warmup + steps):
            if i == warmup:
                mx.nd.waitall()
                start = time.perf_counter()
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(BATCH)
        mx.nd.waitall()
        elapsed = time.perf_counter() - start
        if hook is not None:
            hook.close()  # publishing the tail is part of the cost
            elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return elapsed / steps


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    steps = int(getattr(args, "steps", 200))
    warmup = int(getattr(args, "warmup", 20))
    models = [m for m in (getattr(args, "models", None) or "mlp,cnn").split(",") if m in ("mlp", "cnn")]
    out = []
    for kind in models:
        for name, cfg in CONFIGS.items():
            out.append((
                f"mxnet gluon {kind}",
                name,
                lambda kind=kind: _train(kind, None, steps, warmup),
                lambda kind=kind, cfg=cfg: _train(kind, cfg, steps, warmup),
            ))  # fmt: skip
    return out


def run(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    """(model, config, plain s/step, hooked s/step): the plain loop is re-measured next to each
    case, alternating, and each side keeps its best of ``args.repeats`` runs (shared-CPU noise)."""
    rows = []
    for model, config, plain, hooked in cases(args):
        p = h = float("inf")
        for _ in range(int(getattr(args, "repeats", 3))):
            p, h = min(p, plain()), min(h, hooked())
        rows.append((model, config, p, h))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="runs per side; the best one counts")
    args = ap.parse_args(argv)
    print(f"{'model':<20} {'config':<32} {'plain ms/step':>14} {'hooked ms/step':>15} {'ratio':>7}")
    for model, config, p, h in run(args):
        print(f"{model:<20} {config:<32} {p * 1e3:>14.3f} {h * 1e3:>15.3f} {h / p:>7.3f}")


if __name__ == "__main__":
    main()
