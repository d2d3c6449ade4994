"""The Keras saving step: only saved steps leave Keras's compiled function, the saving function is
traced once across ``fit`` calls, and in-graph reductions match numpy (NaN, inf, empty, integer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
import smdbg.tensorflow as smd  # noqa: E402
from smdbg.hooks.tf._common import reduction_vector  # noqa: E402
from smdbg.reductions import compute_reductions  # noqa: E402

RED = smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"])


def _model() -> Any:
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def _hook(path: Path, interval: int) -> Any:
    return smd.KerasHook(str(path), include_collections=["weights", "biases", "gradients"], reduction_config=RED,
                         save_config=smd.SaveConfig(save_interval=interval))  # fmt: skip


def test_only_saved_steps_run_the_saving_function(tmp_path: Path) -> None:
    model = _model()
    hook = _hook(tmp_path, 5)
    calls: list[int] = []
    emit = hook._emit_saved

    def counting(packed: Any) -> None:
        calls.append(hook.step)
        emit(packed)

    hook._emit_saved = counting  # type: ignore[method-assign]
    x, y = _data(80)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[hook])  # 20 steps
    assert calls == [0, 5, 10, 15]  # unsaved steps ran Keras's own function, with no host copy
    steps = hook._steps
    assert steps is not None
    # reductions only: one float64 vector carries every reduction; nothing raw leaves the graph
    # but one-element tensors (scalars are always kept raw): here the output layer's bias
    (layout,) = set(steps.layouts.entries)
    raw = [name for name, _, _, _, shape, raw_at in layout if raw_at >= 0]
    assert len(layout) == 8 and raw == [
        model.trainable_weights[-1].path,
        "gradients/" + model.trainable_weights[-1].path,
    ]
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    kernel = model.trainable_weights[0].path
    assert trial.tensor(f"gradients/{kernel}").steps() == [0, 5, 10, 15]


def test_saving_function_is_traced_once_across_fit_calls(tmp_path: Path) -> None:
    model = _model()
    hook = _hook(tmp_path, 3)
    for n in (64, 61):  # batches of static shape, then a partial last batch (shape None): as Keras's own
        xs, ys = _data(n)
        model.fit(xs, ys, batch_size=8, epochs=1, verbose=0, callbacks=[hook])
    steps = hook._steps
    assert steps is not None
    (saving,) = steps.saving.values()
    traced = saving.tracing_count()
    assert traced >= 1
    for n in (40, 61, 64, 100):  # new datasets and iterators of those specs: no retracing
        xs, ys = _data(n)
        model.fit(xs, ys, batch_size=8, epochs=2, verbose=0, callbacks=[hook])
    assert len(steps.saving) == 1
    assert saving.tracing_count() == traced
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    assert len(trial.steps()) > 5


_KEYS = ["min", "max", "mean", "std", "variance", "sum", "prod", "l1", "l2",
         "abs_min", "abs_max", "abs_mean", "abs_sum", "abs_l2"]  # fmt: skip
_CASES = {
    "normal": np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32),
    "empty": np.zeros((0, 3), np.float32),
    "nan": np.array([1.0, np.nan, -3.0], np.float32),
    "infs": np.array([np.inf, -np.inf, 2.0], np.float32),
    "int32": np.arange(-5, 7, dtype=np.int32),
    "float16": np.array([0.5, -2.0, 3.25], np.float16),
    "scalar": np.array(3.5, np.float64),
}


@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("keys", [_KEYS, ["mean", "abs_max", "l2"], ["max", "min"], ["abs_max"]],
                         ids=["all", "mean-absmax-l2", "max-min", "absmax"])  # fmt: skip
def test_reduction_vector_matches_numpy(case: str, keys: list[str]) -> None:
    a = _CASES[case]
    with np.errstate(invalid="ignore"):  # inf - inf in numpy's mean/variance of the "infs" case
        want = compute_reductions(a, keys)
    graph = tf.function(lambda t: reduction_vector(t, keys), input_signature=[tf.TensorSpec(None, a.dtype)])
    for got in (reduction_vector(tf.constant(a), keys).numpy(), graph(tf.constant(a)).numpy()):
        for k, g in zip(keys, got):
            w = want[k]
            assert (np.isnan(g) and np.isnan(w)) or g == pytest.approx(w, rel=1e-6), (case, k, g, w)
