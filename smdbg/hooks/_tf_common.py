"""Shared pieces of the TensorFlow hooks: in-graph reductions, naming, the TF hook base class.

Reductions here match :mod:`smdbg.reductions` (float64, population variance/std, l1 = sum|x|,
l2 = sqrt(sum x^2), NaN for min/max/mean/std/variance of an empty tensor, NaN propagates).
They run as TensorFlow ops, in a graph or eagerly, and are stacked into one float64 vector per
tensor so that one small host copy carries every reduction of that tensor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from smdbg.hooks.base import BaseHook
from smdbg.reductions import split_reduction_key

__all__ = ["TFHookBase", "reduction_vector", "variable_name", "is_bias", "is_scalar", "FLOAT_DTYPES"]

FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_NAN = float("nan")


def _one(x: tf.Tensor, name: str) -> tf.Tensor:
    """One reduction of a float64 tensor, as a float64 scalar."""
    if name == "sum":
        return tf.reduce_sum(x)
    if name == "prod":
        return tf.reduce_prod(x)
    if name == "l1":
        return tf.reduce_sum(tf.abs(x))
    if name == "l2":
        return tf.sqrt(tf.reduce_sum(tf.square(x)))
    nonempty = tf.size(x) > 0
    if name == "mean":
        r = tf.reduce_mean(x)
    elif name == "variance":
        r = tf.math.reduce_variance(x)
    elif name == "std":
        r = tf.math.reduce_std(x)
    elif name in ("min", "max"):
        r = tf.reduce_min(x) if name == "min" else tf.reduce_max(x)
        # numpy propagates NaN through min/max; TensorFlow's kernels may skip it
        r = tf.where(tf.reduce_any(tf.math.is_nan(x)), tf.constant(_NAN, tf.float64), r)
    else:  # pragma: no cover - keys are validated by ReductionConfig
        raise ValueError(f"unknown reduction {name!r}")
    return tf.where(nonempty, r, tf.constant(_NAN, tf.float64))


def reduction_vector(x: Any, keys: Sequence[str]) -> tf.Tensor:
    """The reductions ``keys`` (stored keys such as ``mean``, ``abs_max``) of ``x`` as one float64
    vector, in the order of ``keys``."""
    t = tf.convert_to_tensor(x)
    if t.dtype.is_complex:
        t = tf.abs(t)
    t64 = tf.cast(t, tf.float64)
    absx: tf.Tensor | None = None
    out = []
    for key in keys:
        name, is_abs = split_reduction_key(key)
        if is_abs:
            if absx is None:
                absx = tf.abs(t64)
            out.append(_one(absx, name))
        else:
            out.append(_one(t64, name))
    return tf.stack(out) if out else tf.zeros([0], tf.float64)


def variable_name(v: Any) -> str:
    """The name a variable's values are saved under: the TF1 variable name (``scope/w:0``) in
    graph mode, the Keras 3 variable path (``dense/kernel``) for Keras variables."""
    path = getattr(v, "path", None)
    if isinstance(path, str) and path:
        return path
    return str(v.name)


def is_scalar(t: Any) -> bool:
    """True if the tensor's static shape has exactly one element (losses, metrics)."""
    dims = t.shape.as_list() if t.shape.rank is not None else None
    return dims is not None and all(d == 1 for d in dims)


def is_bias(name: str) -> bool:
    return "bias" in name.rsplit("/", 1)[-1].lower()


class TFHookBase(BaseHook):
    """What SessionHook and KerasHook share: TF tensor -> host, and eager batched saving."""

    framework = "tensorflow"

    def _worker_identity(self) -> tuple[int, int]:
        """Rank from ``TF_CONFIG`` (MultiWorkerMirroredStrategy's cluster spec), else RANK/WORLD_SIZE."""
        raw = os.environ.get("TF_CONFIG")
        if raw:
            import json

            try:
                cfg = json.loads(raw)
                workers = list(cfg.get("cluster", {}).get("worker", []))
                task = cfg.get("task", {})
                if workers and task.get("type") in ("worker", "chief"):
                    return int(task.get("index", 0)), len(workers)
            except (ValueError, AttributeError):
                pass
        return super()._worker_identity()

    def _to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, (tf.Tensor, tf.Variable)) and hasattr(value, "numpy"):
            return np.asarray(value.numpy())
        if hasattr(value, "numpy") and callable(value.numpy):  # Keras variables
            return np.asarray(value.numpy())
        return np.asarray(value)

    def _emit_host(self, name: str, plan: Any, red: np.ndarray | None, raw: np.ndarray | None,
                   shape: tuple[int, ...] | None, dtype: str) -> None:  # fmt: skip
        """Emit one tensor whose reductions were computed in TF (``red`` in ``plan.reductions`` order)."""
        reductions = {k: float(v) for k, v in zip(plan.reductions, red)} if red is not None else {}
        if raw is not None:
            raw = np.array(raw, copy=True)
            shape = tuple(raw.shape)
        keep = raw is not None and (plan.raw or raw.size == 1)  # scalars are always kept raw
        self._emit(name, plan, raw if keep else None, reductions, shape or (), dtype)

    def _save_eager(self, tensors: Mapping[str, Any]) -> None:
        """Save eager tensors/variables by name (reductions in TF, one host copy per tensor)."""
        if not self._saving:
            return
        for name, value in tensors.items():
            plan = self.planner.plan(name)
            if plan is None:
                continue
            self._check_open()
            t = tf.convert_to_tensor(value)
            red = reduction_vector(t, plan.reductions).numpy() if plan.reductions else None
            raw = t.numpy() if plan.raw or is_scalar(t) else None
            self._emit_host(name, plan, red, raw, tuple(t.shape.as_list()), t.dtype.name)
