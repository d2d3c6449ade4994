"""The graph a :class:`~smdbg.hooks.tf.SessionHook` is attached to, as one object.

It holds the graph tensors given by hand (``add_to_collection``) or through a wrapped
optimizer, names every tensor the hook may fetch (:meth:`GraphAttachment.universe`), keeps the
reduction ops built for them at ``begin()`` and the fetches of each set of active collections.
The hook decides what is saved; this object knows the graph.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks.tf._common import FLOAT_DTYPES, is_bias, is_scalar, reduction_vector, variable_name

__all__ = ["GraphAttachment"]

_v1 = tf.compat.v1


class GraphAttachment:
    """Graph tensors, their reduction ops and cached fetch dicts of one SessionHook."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}  # name -> graph tensor (gradients, add_to_collection)
        self.optimizers: list[Any] = []  # wrapped tf.compat.v1.train.Optimizers
        self.graph: Any = None
        self.tensors: dict[str, Any] = {}  # name -> tensor the hook may fetch
        self.vectors: dict[str, tuple[tuple[str, ...], Any]] = {}  # name -> (keys, reduction vector op)
        self._fetch_cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, name: str, tensor: Any) -> None:
        self.extra[name] = tensor

    def universe(self, graph: Any, collections: CollectionManager, included: list[str]) -> dict[str, Any]:
        """Every tensor the hook may fetch, by saved name (variables, optimizer variables and
        losses join their collections here)."""
        out: dict[str, Any] = {}
        if any(collections.get(c).include_regex for c in included):
            for op in graph.get_operations():
                if op.type in ("Const", "NoOp", "VarHandleOp", "VariableV2") or _in_control_flow(op):
                    continue
                for t in op.outputs:
                    if t.dtype in FLOAT_DTYPES and t.dtype.base_dtype == t.dtype:
                        out[t.name] = t
        for v in _v1.trainable_variables():
            name = variable_name(v)
            out[name] = v.value()
            collections.get("biases" if is_bias(name) else "weights").add_tensor_name(name)
        for opt in self.optimizers:
            for v in opt.variables():
                name = variable_name(v)
                out[name] = v.value()
                collections.get("optimizer_variables").add_tensor_name(name)
        for t in _v1.get_collection(_v1.GraphKeys.LOSSES):
            out[t.name] = t
            collections.get("losses").add_tensor_name(t.name)
        for name, t in self.extra.items():
            if t.graph is not graph:
                raise ValueError(
                    f"tensor {name!r} was added to the hook from another graph than the one the session runs; "
                    "expected tensors of the session's graph: build the model, hook.add_to_collection and "
                    "wrap_optimizer(...).minimize in the same graph as the MonitoredSession"
                )
            out[name] = t
        return out

    def build(self, graph: Any, universe: dict[str, Any], keys_of: Any) -> None:
        """Reduction ops (one float64 vector per tensor) for every tensor ``keys_of(name)`` does
        not answer None for; called before the graph is finalized."""
        self.graph = graph
        self.tensors = {}
        self.vectors = {}
        with graph.as_default(), tf.name_scope("smdbg_reductions"):
            for name, t in universe.items():
                keys = keys_of(name)
                if keys is None:
                    continue
                self.tensors[name] = t
                if keys:
                    self.vectors[name] = (keys, reduction_vector(t, keys))
        self._fetch_cache.clear()

    def fetches(self, planner: SavePlanner) -> dict[str, Any]:
        """What to fetch at this step, by name: ``red`` (the reduction vector), ``raw`` (the tensor)."""
        key = tuple(sorted(planner.active))
        fetches = self._fetch_cache.get(key)
        if fetches is None:
            fetches = {}
            for name, t in self.tensors.items():
                plan = planner.plan(name)
                if plan is None:
                    continue
                entry: dict[str, Any] = {}
                if plan.reductions and name in self.vectors:
                    entry["red"] = self.vectors[name][1]
                if plan.raw or is_scalar(t):
                    entry["raw"] = t
                if entry:
                    fetches[name] = entry
            self._fetch_cache[key] = fetches
        return fetches

    def detach(self) -> None:
        self._fetch_cache.clear()


def _in_control_flow(op: Any) -> bool:
    getter = getattr(op, "_get_control_flow_context", None)
    try:
        return getter is not None and getter() is not None
    except Exception:  # noqa: BLE001 - private API: treat unknown as "inside", i.e. not fetchable
        return True
