"""TensorFlow cases of the hook-overhead benchmark.

``cases(args)`` returns ``(model, config, plain_fn, hooked_fn)`` tuples; each function returns
seconds per step. Keras: an MLP trained with compiled ``model.fit``, plain vs with
``smd.KerasHook``: both models are built and warmed up (compiled, saving step traced) once per
configuration, then each measurement trains ``args.steps`` steps of each in interleaved chunks of
300 steps, timing ``fit``'s training loop (see :class:`_KerasPair`). Graph mode:
the issue's ``tf.compat.v1`` + ``MonitoredSession`` script, in a subprocess (graph mode is
process-wide), plain vs with ``smd.SessionHook`` and a wrapped optimizer.

Standalone: ``python benchmarks/_overhead_tensorflow.py --steps 300 --repeats 3``.
"""

from __future__ import annotations

import argparse
import gc
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

__all__ = ["cases", "cleanup", "CONFIGS", "main"]

BATCH = 64


def _clock() -> Any:
    """A Keras callback that stamps the start and end of ``fit``'s training loop (so the data
    adapter's setup is outside the timing). It has no per-batch methods."""
    import keras

    class Clock(keras.callbacks.Callback):
        t0 = t1 = 0.0

        def on_train_begin(self, logs: Any = None) -> None:
            self.t0 = time.perf_counter()

        def on_train_end(self, logs: Any = None) -> None:
            self.t1 = time.perf_counter()

    return Clock()


class _KerasPair:
    """The plain and the hooked MLP of one configuration, built and compiled once.

    ``measure()`` trains both for ``steps`` steps in interleaved chunks (plain, hooked, hooked,
    plain, ...; one ``fit`` of ``CHUNK`` steps each), so that both see the same load on a shared
    machine, and returns (plain, hooked) seconds per step of the training loops (``fit``'s data
    setup excluded, the hook's ``on_train_begin`` included). Each hooked chunk ends with a flush
    of the trial writer, timed with it: the background writer's work on the records of a chunk is
    charged to that chunk, not to the plain chunk after it (one segment per chunk is more than a
    continuous run writes, so this leans conservative). The hook's step counter runs on across
    chunks and calls, so saved steps fall where the save interval puts them.
    """

    CHUNK = 300

    def __init__(self, cfg: dict[str, Any], steps: int) -> None:
        self.cfg = cfg
        self.chunk = max(1, min(self.CHUNK, steps))
        self.chunks = max(1, steps // self.chunk)
        self.built = False
        self.last: tuple[float, float] = (0.0, 0.0)

    def _build(self) -> None:
        import keras
        import numpy as np

        import smdbg.tensorflow as smd

        def model() -> Any:
            keras.utils.set_random_seed(0)
            m = keras.Sequential([keras.Input((128,)), keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])  # fmt: skip
            m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
            return m

        rng = np.random.default_rng(0)
        n = self.chunk * BATCH
        self.x = rng.normal(size=(n, 128)).astype("float32")
        self.y = (np.arange(n) % 10).astype("int64")
        self.out = tempfile.mkdtemp(prefix="smdbg-bench-tf-")
        self.hook = smd.KerasHook(self.out, **hook_kwargs(smd, self.cfg))
        self.plain, self.hooked = model(), model()
        for m, cbs in ((self.plain, []), (self.hooked, [self.hook])):  # warm-up: compiles, traces
            m.fit(self.x[: 20 * BATCH], self.y[: 20 * BATCH], batch_size=BATCH, verbose=0, callbacks=cbs)
        self.built = True

    def _chunk(self, hooked: bool) -> float:
        clock = _clock()
        m, cbs = (self.hooked, [clock, self.hook]) if hooked else (self.plain, [clock])
        m.fit(self.x, self.y, batch_size=BATCH, epochs=1, verbose=0, callbacks=cbs, shuffle=False)
        took = float(clock.t1 - clock.t0)
        if hooked:
            t0 = time.perf_counter()
            self.hook.flush()
            took += time.perf_counter() - t0
        return took

    def measure(self) -> tuple[float, float]:
        if not self.built:
            self._build()
        # A full collection walks TensorFlow's and Keras's ~400k objects (~0.25 s); start each
        # measurement from a collected heap so that one does not land in a random chunk.
        gc.collect()
        plain = hooked = 0.0
        for i in range(self.chunks):
            first_hooked = i % 2 == 1
            a = self._chunk(first_hooked)
            b = self._chunk(not first_hooked)
            plain += b if first_hooked else a
            hooked += a if first_hooked else b
        n = self.chunks * self.chunk
        self.last = (plain / n, hooked / n)
        return self.last

    def close(self) -> None:
        if self.built:
            self.hook.close()
            shutil.rmtree(self.out, ignore_errors=True)
            self.built = False


_PAIRS: list[_KerasPair] = []


def cleanup() -> None:
    """Close the hooks of the Keras cases (``hook_overhead.py`` calls this at the end)."""
    for pair in _PAIRS:
        pair.close()


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
        pair = _KerasPair(cfg, steps)
        _PAIRS.append(pair)
        # the runner calls plain then hooked: plain runs both interleaved, hooked reads the result
        out.append(("keras mlp fit", name, lambda p=pair: p.measure()[0], lambda p=pair: p.last[1]))
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
    cleanup()


if __name__ == "__main__":
    main()
