"""The graph-mode hook: a ``tf.compat.v1.train.SessionRunHook`` for ``MonitoredSession``.

On ``begin()`` (before the graph is finalized) the hook names the tensors it may save
(trainable variables, wrapped optimizers' gradients, losses, tensors added by hand, graph tensors
matching included regexes) and builds each one's reductions as graph ops, stacked into one
float64 vector per tensor. ``before_run`` adds fetches only on saved steps (one fetch dict per
set of active collections, cached), so only reduced values leave the graph, and raw tensors only
when a reduction config asks for them. ``after_run`` emits the values and advances the step.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

from smdbg.exceptions import StopTrainingRequested
from smdbg.hooks.tf._common import (
    TFHookBase,
    variable_name,
)
from smdbg.hooks.tf._graph import GraphAttachment

__all__ = ["SessionHook", "WrappedOptimizer"]

log = logging.getLogger("smdbg.hooks")
_v1 = tf.compat.v1


class WrappedOptimizer:
    """A ``tf.compat.v1.train.Optimizer`` that records the gradients it applies in the hook's
    ``gradients`` collection (as ``gradients/<variable name>``); everything else is delegated."""

    def __init__(self, optimizer: Any, hook: SessionHook) -> None:
        self._opt = optimizer
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._opt, name)

    def compute_gradients(self, *args: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
        return list(self._opt.compute_gradients(*args, **kwargs))

    def apply_gradients(self, grads_and_vars: Any, global_step: Any = None, name: str | None = None) -> Any:
        pairs = list(grads_and_vars)
        for g, v in pairs:
            if g is not None and v is not None:
                self._hook._add_gradient(g, v)
        return self._opt.apply_gradients(pairs, global_step=global_step, name=name)

    def minimize(self, loss: Any, global_step: Any = None, var_list: Any = None,
                 gate_gradients: int = 1, aggregation_method: Any = None,
                 colocate_gradients_with_ops: bool = False, name: str | None = None,
                 grad_loss: Any = None) -> Any:  # fmt: skip
        """As ``Optimizer.minimize``: compute_gradients, then apply_gradients through this wrapper."""
        grads_and_vars = self.compute_gradients(
            loss, var_list=var_list, gate_gradients=gate_gradients, aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss,
        )  # fmt: skip
        if not [v for g, v in grads_and_vars if g is not None]:
            names = [variable_name(v) for _, v in grads_and_vars]
            raise ValueError(
                f"no gradients for any variable ({names}) of loss {loss!r}: check the graph connects them"
            )
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def __repr__(self) -> str:
        return f"WrappedOptimizer({self._opt!r})"


class SessionHook(TFHookBase, _v1.train.SessionRunHook):  # type: ignore[name-defined,misc]
    """Saves tensors of a TF1-style graph run by ``MonitoredSession``/``MonitoredTrainingSession``.

    Tensor names are the graph's: trainable variables by their variable name
    (``initialize/weight1:0``), gradients as ``gradients/<variable name>``, other tensors by
    their graph tensor name. The step advances after every ``session.run``.
    """

    default_include_collections = ("losses",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.attached = GraphAttachment()
        self._host_names: set[str] = set()  # names saved from host values (save_tensor ...)
        self._pending: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)

    # -- graph construction --------------------------------------------------------------------
    def wrap_optimizer(self, optimizer: Any) -> WrappedOptimizer:
        """Wrap a ``tf.compat.v1.train.Optimizer`` so its gradients are saved (``gradients``)."""
        if isinstance(optimizer, WrappedOptimizer):
            return optimizer
        if not isinstance(optimizer, _v1.train.Optimizer):
            raise TypeError(
                f"wrap_optimizer({type(optimizer).__module__}.{type(optimizer).__name__}): expected a "
                "tf.compat.v1.train.Optimizer (e.g. tf.compat.v1.train.AdamOptimizer) for graph mode; "
                "for a Keras optimizer use smd.KerasHook(...).wrap_optimizer, for a custom TF2 loop hook.wrap_tape"
            )
        self.attached.optimizers.append(optimizer)
        return WrappedOptimizer(optimizer, self)

    def _add_gradient(self, grad: Any, var: Any) -> None:
        if isinstance(grad, tf.IndexedSlices):
            grad = tf.convert_to_tensor(grad)
        name = "gradients/" + variable_name(var)
        self.attached.add(name, grad)
        self.collections.get("gradients").add_tensor_name(name)

    def add_to_collection(self, collection_name: str, tensor: Any) -> None:
        """Add a graph tensor or variable to a collection (smdebug's API). Include the collection
        (``include_collections``) to save it; ``losses`` is included by default."""
        if isinstance(tensor, tf.Variable):
            name = variable_name(tensor)
            value = tensor.value() if hasattr(tensor, "value") else tensor
        elif isinstance(tensor, tf.Tensor):
            name, value = tensor.name, tensor
        else:
            raise TypeError(
                f"add_to_collection({collection_name!r}, {tensor!r}): expected a graph tf.Tensor or tf.Variable; "
                "to save a value you computed, use hook.save_tensor(name, value)"
            )
        self.attached.add(name, value)
        self.collections.get(collection_name).add_tensor_name(name)

    def save_tensor(self, tensor_name: str, tensor_value: Any, collections_to_write: Any = "default") -> None:
        self._host_names.add(tensor_name)
        super().save_tensor(tensor_name, tensor_value, collections_to_write)

    def record_tensor_value(self, tensor_name: str, tensor_value: Any) -> None:
        self._host_names.add(tensor_name)
        super().record_tensor_value(tensor_name, tensor_value)

    def begin(self) -> None:
        """Called by MonitoredSession before the graph is finalized: build the reduction ops."""
        try:
            graph = _v1.get_default_graph()
            universe = self.attached.universe(graph, self.collections, self.planner.included)
            for cname in self.planner.included:
                for tname in sorted(self.collections.get(cname).tensor_names):
                    if tname not in universe and tname not in self._host_names:
                        raise ValueError(
                            f"collection {cname!r} names tensor {tname!r}, which is not in the session's graph; "
                            "expected a tensor name of this graph (see graph.get_operations()); "
                            "fix the name or remove it from the collection"
                        )
            self.attached.build(graph, universe, self._possible_keys)
        except Exception as e:
            self._report_error("begin", e)
            raise

    def _possible_keys(self, name: str) -> tuple[str, ...] | None:
        """Union of the reduction keys of every included collection the tensor is in; None if none."""
        members = [c for c in self.planner.members(name) if c in self.planner.included]
        if not members:
            return None
        keys: list[str] = []
        for cname in members:
            coll = self.collections.get(cname)
            rc = coll.reduction_config or self.reduction_config
            if rc is not None:
                keys.extend(k for k in rc.keys if k not in keys)
        return tuple(keys)

    # -- the run loop --------------------------------------------------------------------------
    def before_run(self, run_context: Any) -> Any:
        if not self._saving or self._closed:
            return None
        try:
            self._check_open()
            self._pending = self.attached.fetches(self.planner)
            return _v1.train.SessionRunArgs(fetches=self._pending) if self._pending else None
        except Exception as e:
            self._report_error("before_run", e)
            raise

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if self._closed:
            return
        try:
            if self._pending is not None and run_values.results:
                self._emit_results(run_values.results)
            self._pending = None
            self._advance()
        except StopTrainingRequested:
            run_context.request_stop()
        except Exception as e:
            self._report_error("after_run", e)
            raise

    def _emit_results(self, results: dict[str, dict[str, Any]]) -> None:
        for name, vals in results.items():
            plan = self.planner.plan(name)
            if plan is None:
                continue
            red = None
            if "red" in vals:
                keys = self.attached.vectors[name][0]
                full = dict(zip(keys, np.asarray(vals["red"]).tolist()))
                red = np.array([full[k] for k in plan.reductions], dtype=np.float64)
            raw = np.asarray(vals["raw"]) if "raw" in vals else None
            t = self.attached.tensors[name]
            shape = tuple(raw.shape) if raw is not None else _static_shape(t)
            self._emit_host(name, plan, red, raw, shape, t.dtype.base_dtype.name)

    def end(self, session: Any) -> None:
        self.close()

    def _detach(self) -> None:
        self.attached.detach()


def _static_shape(t: Any) -> tuple[int, ...]:
    dims = t.shape.as_list() if t.shape.rank is not None else []
    return tuple(-1 if d is None else int(d) for d in dims)
