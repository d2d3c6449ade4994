"""Compiled-speed saving for Keras 3 ``fit``/``evaluate``/``predict`` (TensorFlow backend).

Keras builds ``model.train_function`` once from ``model.train_step``. On ``on_*_begin`` the hook
replaces the model instance's ``train_function`` (``test_function``, ``predict_function``) by a
dispatcher: on unsaved steps it calls Keras's own compiled function unchanged; on saved steps a
second compiled function, built the same way by Keras (``make_train_function(force=True)``) from
a step that runs the model's own ``train_step`` while a recorder captures the layer inputs and
outputs, the gradients handed to the optimizer and the batch loss, and returns them (reduced in
the graph; raw only where asked) next to the logs. One saving function is traced per set of
active collections and cached. Nothing is monkey-patched on a class: probes are instance
attributes, removed again by ``restore``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from smdbg.hooks._tf_common import FLOAT_DTYPES, is_scalar, reduction_vector, variable_name

if TYPE_CHECKING:  # pragma: no cover
    from smdbg.hooks._tf_keras import KerasHook

__all__ = ["Recorder", "StepFunctions"]

_KINDS = {"train": ("train_step", "train_function", "make_train_function"),
          "test": ("test_step", "test_function", "make_test_function"),
          "predict": ("predict_step", "predict_function", "make_predict_function")}  # fmt: skip


class Recorder:
    """Collects tensors while a saving step is traced (or run eagerly)."""

    def __init__(self) -> None:
        self.active = False
        self.tensors: dict[str, Any] = {}

    def add(self, name: str, value: Any) -> None:
        for i, t in enumerate(_float_leaves(value)):
            key = name if i == 0 else f"{name}_{i}"
            self.tensors.setdefault(key, t)


def _float_leaves(value: Any) -> list[Any]:
    return [t for t in tf.nest.flatten(value) if isinstance(t, tf.Tensor) and t.dtype in FLOAT_DTYPES]


class StepFunctions:
    """Installs dispatchers on one model and builds/caches the saving variants."""

    def __init__(self, hook: KerasHook, model: Any) -> None:
        self.hook = hook
        self.model = model
        self.recorder = hook._recorder
        self.plain: dict[str, Any] = {}
        self.saving: dict[tuple[Any, ...], Any] = {}
        self._probed: list[Any] = []

    # -- probes ---------------------------------------------------------------------------------
    def install_probes(self) -> None:
        if self._probed:
            return
        for layer in self.model.layers:
            orig = layer.call

            def call(
                *args: Any, _orig: Callable[..., Any] = orig, _name: str = layer.name, **kwargs: Any
            ) -> Any:
                out = _orig(*args, **kwargs)
                rec = self.recorder
                if rec.active or (self.hook._saving and tf.executing_eagerly() and not self.hook._closed):
                    inputs = args[0] if args else kwargs.get("inputs")
                    found = {f"{_name}/inputs": inputs, f"{_name}/outputs": out}
                    if rec.active:
                        for k, v in found.items():
                            rec.add(k, v)
                    else:
                        self.hook._save_eager({k: t for k, v in found.items() for t in _float_leaves(v)[:1]})
                return out

            layer.call = call
            self._probed.append(layer)

    def restore(self) -> None:
        for layer in self._probed:
            if "call" in layer.__dict__:
                object.__delattr__(layer, "call")
        self._probed = []
        for kind, fn in self.plain.items():
            if getattr(self.model, _KINDS[kind][1], None) is not None:
                setattr(self.model, _KINDS[kind][1], fn)
        self.plain.clear()
        self.saving.clear()

    # -- dispatch -------------------------------------------------------------------------------
    def install(self, kind: str) -> None:
        """Put the dispatcher in place of the model's compiled function of ``kind``."""
        _, fn_attr, _ = _KINDS[kind]
        current = getattr(self.model, fn_attr, None)
        if current is None or getattr(current, "_smdbg_dispatcher", False):
            return
        if kind == "predict":
            return  # Keras looks predict_step up at trace time; outputs come from the callback's logs
        self.plain[kind] = current
        plain = current

        def dispatch(data: Any) -> Any:
            hook = self.hook
            if not hook._saving or hook._closed:
                return plain(data)
            out = self._saving_function(kind)(data)
            hook._emit_saved(out["smdbg"])
            return out["logs"]

        dispatch._smdbg_dispatcher = True  # type: ignore[attr-defined]
        setattr(self.model, fn_attr, dispatch)

    def _saving_function(self, kind: str) -> Any:
        hook = self.hook
        fp = tuple(
            (c.name, len(c.include_regex), len(c.tensor_names))
            for c in hook.collections
            if c.name != "metrics"
        )
        key = (kind, tuple(sorted(hook.planner.active)), fp, tuple(hook.planner.included))
        fn = self.saving.get(key)
        if fn is None:
            fn = self.saving[key] = self._build(kind)
        return fn

    def _build(self, kind: str) -> Any:
        """A compiled saving function with the calling convention of Keras's own.

        With one step per execution and no distribution strategy, the saving step is compiled on
        the batch (not on the iterator), so it is traced once and reused by later ``fit`` calls
        on other datasets. Otherwise Keras compiles it exactly as it compiles its own
        (``make_train_function(force=True)``)."""
        step_attr, fn_attr, make_attr = _KINDS[kind]
        model = self.model
        step = self._saving_step(getattr(model, step_attr), kind)
        if getattr(model, "steps_per_execution", 1) == 1 and not tf.distribute.has_strategy():
            compiled = (
                step
                if model.run_eagerly
                else tf.function(step, reduce_retracing=True, jit_compile=bool(model.jit_compile))
            )

            def saving(iterator: Any) -> Any:
                if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
                    opt = iterator.get_next_as_optional()
                    if not opt.has_value():
                        raise StopIteration
                    data = opt.get_value()
                else:
                    data = next(iter(iterator))
                return compiled(data)

            return saving
        installed = getattr(model, fn_attr)
        setattr(model, step_attr, step)
        try:
            getattr(model, make_attr)(force=True)
            return getattr(model, fn_attr)
        finally:
            object.__delattr__(model, step_attr)
            setattr(model, fn_attr, installed)

    def _saving_step(self, base_step: Callable[[Any], Any], kind: str) -> Callable[[Any], Any]:
        hook = self.hook
        model = self.model
        rec = self.recorder

        def step(data: Any) -> dict[str, Any]:
            pre: dict[str, Any] = {}
            for v in hook._watched_variables(model):
                name = variable_name(v)
                if hook.planner.plan(name) is not None:
                    pre[name] = tf.identity(v.value)  # read before the optimizer updates it
            rec.tensors = {}
            rec.active = True
            orig_loss = model.compute_loss

            def compute_loss(*args: Any, **kwargs: Any) -> Any:
                loss = orig_loss(*args, **kwargs)
                rec.tensors.setdefault("loss", loss)
                return loss

            if kind != "predict":
                model.compute_loss = compute_loss
            try:
                logs = base_step(data)
            finally:
                rec.active = False
                if "compute_loss" in model.__dict__:
                    object.__delattr__(model, "compute_loss")
            found = {**pre, **rec.tensors}
            rec.tensors = {}
            extras: dict[str, Any] = {}
            for name, t in found.items():
                plan = hook.planner.plan(name)
                if plan is None:
                    continue
                hook._dtypes[name] = t.dtype.name
                entry: dict[str, Any] = {"shape": tf.shape(t, out_type=tf.int64)}
                if plan.reductions:
                    entry["red"] = reduction_vector(t, plan.reductions)
                if plan.raw or is_scalar(t):
                    entry["raw"] = t
                extras[name] = entry
            return {"logs": logs, "smdbg": extras}

        return step
