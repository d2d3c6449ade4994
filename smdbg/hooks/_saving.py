"""The saving half of a hook: values and reductions into the store records of the current step.

``BaseHook`` inherits it; split out only to keep the hook core readable. Framework hooks call
``_emit``/``_emit_many`` with host data and reductions they computed; ``save_scalar``,
``save_tensor`` and ``record_tensor_value`` are the user-facing calls (smdebug's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner, TensorPlan
from smdbg.reductions import compute_reductions
from smdbg.store import Record

__all__ = ["SavingMixin"]

_DTYPE_NAMES: dict[Any, str] = {}  # numpy dtype -> its name (str(dtype) is slow per record)
_new_tuple = tuple.__new__  # Record(...) without the namedtuple's Python-level __new__ (~0.3 us per record)


class SavingMixin:
    """Record-making methods of :class:`~smdbg.hooks.base.BaseHook` (state lives there)."""

    _records: list[Record]
    _tb: Any
    tracker: Any
    step: int
    planner: SavePlanner
    collections: CollectionManager
    _saving: bool

    def _check_open(self) -> None:
        raise NotImplementedError

    def include_collection(self, name: str) -> None:
        raise NotImplementedError

    def _emit(self, name: str, plan: TensorPlan, host: np.ndarray | None, reductions: Mapping[str, float],
              shape: tuple[int, ...], dtype: str) -> None:  # fmt: skip
        """Turn one tensor's host data and reductions into records for the current step."""
        self._emit_many(((name, plan, host, reductions, shape, dtype),))

    def _emit_many(self, items: Iterable[tuple[str, TensorPlan, np.ndarray | None, Mapping[str, float],
                                               tuple[int, ...], str]]) -> None:  # fmt: skip
        """:meth:`_emit` of many ``(name, plan, host, reductions, shape, dtype)`` in one call."""
        recs = self._records
        tb = self._tb
        for name, plan, host, reductions, shape, dtype in items:
            colls = plan.collections
            keep_shape = shape if plan.save_shape else None
            for key, value in reductions.items():  # tuple.__new__: no Python-level __new__ frame
                recs.append(_new_tuple(Record, (name, colls, key, value, dtype, keep_shape, None)))
            if host is not None:
                scalar = float(host.reshape(-1)[0]) if host.size == 1 and host.dtype.kind in "biuf" else None
                dt = _DTYPE_NAMES.get(host.dtype)
                if dt is None:
                    dt = _DTYPE_NAMES[host.dtype] = str(host.dtype)
                recs.append(Record(name, colls, "raw", scalar, dt, host.shape, host))
                if (
                    scalar is not None
                    and self.tracker is not None
                    and ("losses" in colls or "metrics" in colls)
                ):
                    self.tracker.log_metric(name, scalar, iteration_number=self.step)
            if tb is not None:
                self._to_tensorboard(name, host, reductions)

    def _to_tensorboard(self, name: str, host: np.ndarray | None, reductions: Mapping[str, float]) -> None:
        for key, value in reductions.items():
            self._tb.add_scalar(f"{name}/{key}", value, self.step)
        if host is not None:
            if host.size == 1:
                self._tb.add_scalar(name, float(host.reshape(-1)[0]), self.step)
            elif host.dtype.kind in "biuf":
                self._tb.add_histogram(name, host, self.step)

    def _save_numpy(self, name: str, array: Any, plan: TensorPlan | None = None) -> None:
        """Save a host value (numpy array or number) under the plan for ``name``."""
        plan = plan or self.planner.plan(name)
        if plan is None:
            return
        self._check_open()
        host = np.array(array, copy=True)
        if host.dtype.kind not in "biufc":
            host = host.astype(np.float64)
        reductions = compute_reductions(host, plan.reductions) if plan.reductions else {}
        self._emit(name, plan, host if plan.raw else None, reductions, tuple(host.shape), str(host.dtype))

    def _to_numpy(self, value: Any) -> np.ndarray:
        """Framework hooks convert their tensors to numpy here."""
        return np.asarray(value)

    def save_scalar(
        self, name: str, value: float, sm_metric: bool = False, timestamp: float | None = None
    ) -> None:
        """Save a scalar at the current step (always, whatever the save config), in ``scalars``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"save_scalar name={name!r}: expected a non-empty string")
        try:
            v = (
                float(self._to_numpy(value).reshape(-1)[0])
                if not isinstance(value, (int, float))
                else float(value)
            )
        except (TypeError, ValueError, IndexError) as e:
            raise TypeError(f"save_scalar({name!r}, {value!r}): expected a number") from e
        self._check_open()
        colls = ("scalars",) + tuple(c for c in self.planner.members(name) if c != "scalars")
        host = np.asarray(v, dtype=np.float64)
        self._emit(name, TensorPlan(colls, (), True, True), host, {}, (), "float64")
        if self.tracker is not None and "losses" not in colls and "metrics" not in colls:
            self.tracker.log_metric(name, v, timestamp=timestamp, iteration_number=self.step)

    def save_tensor(
        self, tensor_name: str, tensor_value: Any, collections_to_write: str | Iterable[str] = "default"
    ) -> None:
        """Save a tensor the script computed, in the given collections (created and included if new),
        at the current step if one of them is saved now."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"save_tensor tensor_name={tensor_name!r}: expected a non-empty string")
        names = (
            [collections_to_write] if isinstance(collections_to_write, str) else list(collections_to_write)
        )
        for cname in names:
            coll = self.collections.get(cname)
            if tensor_name not in coll.tensor_names:
                coll.add_tensor_name(tensor_name)
            self.include_collection(cname)
        if self._saving:
            self._save_numpy(tensor_name, self._to_numpy(tensor_value))

    def record_tensor_value(self, tensor_name: str, tensor_value: Any) -> None:
        """Save a value under ``tensor_name`` if its collections are saved now (smdebug's API)."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"record_tensor_value tensor_name={tensor_name!r}: expected a non-empty string")
        if not [c for c in self.planner.members(tensor_name) if c != "all"]:
            self.collections.get("default").add_tensor_name(tensor_name)
            self.include_collection("default")
        if self._saving:
            self._save_numpy(tensor_name, self._to_numpy(tensor_value))
