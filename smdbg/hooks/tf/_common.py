"""Shared pieces of the TensorFlow hooks: in-graph reductions, naming, the TF hook base class.

Reductions here match :mod:`smdbg.reductions` (float64, population variance/std, l1 = sum|x|,
l2 = sqrt(sum x^2), NaN for min/max/mean/std/variance of an empty tensor, NaN propagates).
They run as TensorFlow ops, in a graph or eagerly, and are stacked into one float64 vector per
tensor so that one small host copy carries every reduction of that tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from smdbg import _settings
from smdbg.hooks.base import BaseHook
from smdbg.reductions import split_reduction_key

__all__ = ["TFHookBase", "reduction_vector", "variable_name", "is_bias", "is_scalar", "FLOAT_DTYPES"]

FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_NAN = float("nan")


class _Stats:
    """The reductions of one tensor, sharing intermediate results (|x|, sums).

    Float32 and float64 tensors are reduced in their own dtype, float16/bfloat16 in float32,
    integers and bools in float64; every result is stored as float64 (the PyTorch hook does the
    same; a float64 copy of every float32 tensor cost a saved Keras step ~0.2 ms). ``min``/``max``
    run in the tensor's own dtype (exact). The emptiness guard is left out when the static size
    says the tensor is not empty, and NaN detection for min/max reuses a sum of |x| or x^2 when
    one is computed anyway (both are NaN exactly when some element is NaN), so a step that saves
    mean, abs-max and l2 runs a handful of ops per tensor.
    """

    def __init__(self, t: tf.Tensor) -> None:
        self.t = t
        self.floating = t.dtype.is_floating
        self.size = t.shape.num_elements()  # None when not static
        self._memo: dict[tuple[str, bool], tf.Tensor] = {}

    def _get(self, key: tuple[str, bool], make: Any) -> tf.Tensor:
        r = self._memo.get(key)
        if r is None:
            r = self._memo[key] = make()
        return r

    def xc(self, a: bool) -> tf.Tensor:
        """The tensor (|x| if ``a``) in its compute dtype (see the class)."""
        if a:
            return self._get(("xc", True), lambda: tf.abs(self.xc(False)))
        if self.t.dtype in (tf.float32, tf.float64):
            return self.t
        return self._get(("xc", False), lambda: tf.cast(self.t, tf.float32 if self.floating else tf.float64))

    def own(self, a: bool) -> tf.Tensor:
        """The tensor (|x| if ``a``) in its own dtype (float) or float64 (integer, bool)."""
        if not self.floating:
            return self.xc(a)
        return self._get(("own", True), lambda: tf.abs(self.t)) if a else self.t

    def sq_sum(self) -> tf.Tensor:
        return self._get(("sq", False), lambda: tf.reduce_sum(tf.square(self.xc(False))))

    def sum(self, a: bool) -> tf.Tensor:
        return self._get(("sum", a), lambda: tf.reduce_sum(self.xc(a)))

    def has_nan(self) -> tf.Tensor | None:
        if not self.floating:
            return None
        for key in (("sq", False), ("sum", True)):
            if key in self._memo:
                return tf.math.is_nan(self._memo[key])
        return self._get(("nan", False), lambda: tf.reduce_any(tf.math.is_nan(self.t)))

    def one(self, name: str, a: bool) -> tf.Tensor:
        """One reduction (of |x| if ``a``) as a float64 scalar."""
        return tf.cast(self._one(name, a), tf.float64)

    def _one(self, name: str, a: bool) -> tf.Tensor:
        if name == "sum":
            return self.sum(a)
        if name == "l1":
            return self.sum(True)
        if name == "l2":
            return tf.sqrt(self.sq_sum())
        if name == "prod":
            return tf.reduce_prod(self.xc(a))
        if name == "mean":
            r = tf.reduce_mean(self.xc(a))
        elif name == "variance":
            r = tf.math.reduce_variance(self.xc(a))
        elif name == "std":
            r = tf.math.reduce_std(self.xc(a))
        elif name in ("min", "max"):
            own = self.own(a)
            r = tf.reduce_min(own) if name == "min" else tf.reduce_max(own)
            nan = self.has_nan()
            if nan is not None:  # numpy propagates NaN through min/max; some TF kernels may skip it
                r = tf.where(nan, tf.constant(_NAN, r.dtype), r)
        else:  # pragma: no cover - keys are validated by ReductionConfig
            raise ValueError(f"unknown reduction {name!r}")
        if self.size is not None and self.size > 0:
            return r
        return tf.where(tf.size(self.t) > 0, r, tf.constant(_NAN, r.dtype))


def _nan_detector_first(key: tuple[str, bool]) -> int:
    """Sort key: sums of |x| or x^2 first, so that min/max reuse them as their NaN check."""
    name, a = key
    return 0 if name in ("l1", "l2") or (name == "sum" and a) else 1


def reduction_vector(x: Any, keys: Sequence[str]) -> tf.Tensor:
    """The reductions ``keys`` (stored keys such as ``mean``, ``abs_max``) of ``x`` as one float64
    vector, in the order of ``keys``."""
    t = tf.convert_to_tensor(x)
    if t.dtype.is_complex:
        t = tf.abs(t)
    if not keys:
        return tf.zeros([0], tf.float64)
    stats = _Stats(t)
    parsed = [split_reduction_key(k) for k in keys]
    order = sorted(range(len(parsed)), key=lambda i: _nan_detector_first(parsed[i]))
    out: list[Any] = [None] * len(parsed)
    for i in order:
        out[i] = stats.one(*parsed[i])
    return tf.stack(out)


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
        raw = _settings.TF_CONFIG.get()
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
