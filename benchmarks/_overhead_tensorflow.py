"""TensorFlow cases of the hook-overhead benchmark.

``cases(args)`` returns ``(model, config, plain_fn, hooked_fn)`` tuples; each function returns
seconds per step. Keras: an MLP trained with compiled ``model.fit`` (one epoch of ``args.steps``
batches after a warm-up epoch that also compiles), plain vs with ``smd.KerasHook``. Graph mode:
the issue's ``tf.compat.v1`` + ``MonitoredSession`` script, in a subprocess (graph mode is
process-wide), plain vs with ``smd.SessionHook`` and a wrapped optimizer.

Standalone: ``python benchmarks/_overhead_tensorflow.py --steps 300 --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _overhead_configs import CONFIGS, hook_kwargs

__all__ = ["cases", "CONFIGS", "main"]

BATCH = 64


def _keras_fit(cfg: dict[str, Any] | None, steps: int) -> float:
    import keras
    import numpy as np

    import smdbg.tensorflow as smd

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((128,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])  # fmt: skip
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * BATCH, 128)).astype("float32")
    y = (np.arange(steps * BATCH) % 10).astype("int64")
    out = tempfile.mkdtemp(prefix="smdbg-bench-tf-")
    callbacks = []
    hook = None
    if cfg is not None:
        hook = smd.KerasHook(out, **hook_kwargs(smd, cfg))
        callbacks = [hook]
    try:
        model.fit(
            x[: 20 * BATCH], y[: 20 * BATCH], batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks
        )
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks, shuffle=False)
        return (time.perf_counter() - t0) / steps
    finally:
        if hook is not None:
            hook.close()
        shutil.rmtree(out, ignore_errors=True)


def _graph_worker(steps: int, repeats: int) -> None:
    """Runs in a fresh interpreter: the issue's script, plain and hooked, prints JSON timings."""
    import numpy as np
    import tensorflow.compat.v1 as tf

    import smdbg.tensorflow as smd

    tf.disable_eager_execution()

    def run(cfg: dict[str, Any] | None) -> float:
        with tf.Graph().as_default():
            out = tempfile.mkdtemp(prefix="smdbg-bench-tfg-")
            hook = smd.SessionHook(out, **hook_kwargs(smd, cfg)) if cfg is not None else None
            x = tf.placeholder(shape=(None, 2), dtype=tf.float32)
            with tf.name_scope("initialize"):
                w = tf.Variable(initial_value=[[10.0], [10.0]], name="weight1")
            y = tf.matmul(x, [[1.0], [1.0]])
            loss = tf.reduce_mean((tf.matmul(x, w) - y) ** 2, name="loss")
            opt = tf.train.AdamOptimizer(0.001)
            if hook is not None:
                hook.add_to_collection("losses", loss)
                opt = hook.wrap_optimizer(opt)
            train = opt.minimize(loss)
            xs = np.random.random((10, 2)) * 10
            with tf.train.MonitoredSession(hooks=[hook] if hook else []) as sess:
                for _ in range(20):
                    sess.run([loss, train], {x: xs})
                t0 = time.perf_counter()
                for _ in range(steps):
                    sess.run([loss, train], {x: xs})
                took = (time.perf_counter() - t0) / steps
            shutil.rmtree(out, ignore_errors=True)
            return took

    result: dict[str, dict[str, float]] = {}
    for name, cfg in CONFIGS.items():
        plain = min(run(None) for _ in range(repeats))
        hooked = min(run(cfg) for _ in range(repeats))
        result[name] = {"plain": plain, "hooked": hooked}
    print(json.dumps(result))


def _graph_results(steps: int, repeats: int) -> dict[str, dict[str, float]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": root}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--graph-worker",
        "--steps",
        str(steps),
        "--repeats",
        str(repeats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"graph-mode benchmark worker failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    steps = int(getattr(args, "steps", 300))
    repeats = int(getattr(args, "repeats", 3))
    out: list[tuple[str, str, Callable[[], float], Callable[[], float]]] = []
    for name, cfg in CONFIGS.items():
        out.append(
            ("keras mlp fit", name, lambda: _keras_fit(None, steps), lambda cfg=cfg: _keras_fit(cfg, steps))
        )
    cache: dict[str, dict[str, dict[str, float]]] = {}

    def graph(name: str, key: str) -> Callable[[], float]:
        def fn() -> float:
            if "r" not in cache:
                cache["r"] = _graph_results(max(steps, 500), repeats)
            return cache["r"][name][key]

        return fn

    for name in CONFIGS:
        out.append(("tf1 session script", name, graph(name, "plain"), graph(name, "hooked")))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--graph-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.graph_worker:
        _graph_worker(args.steps, args.repeats)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"{'model':<20} {'config':<32} {'plain ms/step':>14} {'hooked ms/step':>15} {'ratio':>7}")
    for model, config, plain_fn, hooked_fn in cases(args):
        plains, hookeds = [], []
        for _ in range(args.repeats):  # interleaved, best of n: the machine is shared
            plains.append(plain_fn())
            hookeds.append(hooked_fn())
        plain, hooked = min(plains), min(hookeds)
        print(f"{model:<20} {config:<32} {plain * 1e3:>14.3f} {hooked * 1e3:>15.3f} {hooked / plain:>7.3f}")


if __name__ == "__main__":
    main()
