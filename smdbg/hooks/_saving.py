"""smdebug's saving calls a training script makes itself: ``save_scalar``, ``save_tensor``,
``record_tensor_value``. A mixin of :class:`~smdbg.hooks.base.BaseHook`, which provides the
collections, the planner and the current step's records these use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner, TensorPlan
from smdbg.hooks._records import SCALAR_PREFIX, StepRecords
from smdbg.reductions import HISTOGRAM, Histogram, compute_histogram, compute_reductions

__all__ = ["ScriptSaving"]


class ScriptSaving:
    """The script-facing saving calls; the hook supplies what is declared here."""

    collections: CollectionManager
    planner: SavePlanner
    _saving: bool

    if TYPE_CHECKING:  # declarations only: a stub here would hide the hook's method in the MRO

        def _check_open(self) -> None: ...

        def _records(self) -> StepRecords: ...

        def _emit(self, name: str, plan: TensorPlan, host: np.ndarray[Any, Any] | None,
                  reductions: Mapping[str, float | Histogram], shape: tuple[int, ...], dtype: str) -> None: ...  # fmt: skip

        def _to_numpy(self, value: Any) -> np.ndarray[Any, Any]: ...

        def include_collection(self, name: str) -> None: ...

    def _save_numpy(self, name: str, array: Any) -> None:
        """Save a host value (numpy array or number) under the plan for ``name``."""
        plan = self.planner.plan(name)
        if plan is None:
            return
        self._check_open()
        host = np.array(array, copy=True)
        if host.dtype.kind not in "biufc":
            host = host.astype(np.float64)
        reductions: dict[str, float | Histogram] = {}
        if plan.reductions:
            reductions.update(compute_reductions(host, plan.reductions))
        if plan.histogram is not None:
            reductions[HISTOGRAM] = compute_histogram(host, *plan.histogram)
        self._emit(name, plan, host if plan.raw else None, reductions, tuple(host.shape), str(host.dtype))

    def save_scalar(self, name: str, value: float, sm_metric: bool = False, timestamp: float | None = None) -> None:
        """Save a scalar at the current step (always, whatever the save config) as
        ``scalar/<name>`` (smdebug's name), in ``scalars``; mirrored to the tracker as ``name``
        (with ``timestamp``) if there is one."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"save_scalar name={name!r}: expected a non-empty string")
        try:
            array = None if isinstance(value, (int, float)) else self._to_numpy(value)
            if array is not None and array.size != 1:
                raise ValueError(f"{array.size} values")
            v = float(value) if array is None else float(array.reshape(-1)[0])
        except (TypeError, ValueError, IndexError) as e:
            raise TypeError(f"save_scalar({name!r}, {value!r:.60}): expected a number (one value)") from e
        self._check_open()
        name = SCALAR_PREFIX + name
        colls = ("scalars",) + tuple(c for c in self.planner.members(name) if c != "scalars")
        host = np.asarray(v, dtype=np.float64)
        self._records().add_metric((name, TensorPlan(colls, (), True, True), host, {}, (), "float64"), timestamp)

    def save_tensor(
        self, tensor_name: str, tensor_value: Any, collections_to_write: str | Iterable[str] = "default"
    ) -> None:
        """Save a tensor the script computed, in the given collections (created and included if new),
        at the current step if one of them is saved now."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"save_tensor tensor_name={tensor_name!r}: expected a non-empty string")
        names = [collections_to_write] if isinstance(collections_to_write, str) else list(collections_to_write)
        for cname in names:
            coll = self.collections.get(cname)
            if tensor_name not in coll.tensor_names:
                coll.add_tensor_name(tensor_name)
            self.include_collection(cname)
        if self._saving:
            self._save_numpy(tensor_name, self._to_numpy(tensor_value))

    def record_tensor_value(self, tensor_name: str, tensor_value: Any) -> None:
        """Save a value under ``tensor_name`` if its collections are saved now (smdebug's API).
        A name that no included collection takes joins ``default`` (which is then included)."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"record_tensor_value tensor_name={tensor_name!r}: expected a non-empty string")
        included = self.planner.included
        if not [c for c in self.planner.members(tensor_name) if c != "all" and c in included]:
            self.collections.get("default").add_tensor_name(tensor_name)
            self.include_collection("default")
        if self._saving:
            self._save_numpy(tensor_name, self._to_numpy(tensor_value))
