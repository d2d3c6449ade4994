"""Compiled-speed saving for Keras 3 ``fit``/``evaluate``/``predict`` (TensorFlow backend).

Keras builds ``model.train_function`` once from ``model.train_step``. On ``on_*_begin`` the hook
replaces the model instance's ``train_function`` (``test_function``, ``predict_function``) by a
dispatcher: on unsaved steps it calls Keras's own compiled function unchanged (no tracing, no
device -> host copy, a few microseconds of Python); on saved steps a second compiled function,
built like Keras's own (see ``StepFunctions._build``) from a step that runs the model's own
``train_step`` while a recorder captures the layer inputs and outputs, the gradients handed to
the optimizer and the batch loss. Reductions run in that graph and leave it packed into one
float64 vector (``Layouts``), so a saved step makes one small host copy plus one per raw tensor.
One saving function is traced per set of active collections and cached. Nothing is
monkey-patched on a class: probes are instance attributes, removed again by ``restore``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks.tf._common import FLOAT_DTYPES, is_scalar, reduction_vector, variable_name

__all__ = ["Layouts", "Recorder", "SavingHost", "StepFunctions"]

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


def _tracing_count(*fns: Any) -> int:
    """How often the ``tf.function``s among ``fns`` were traced (tests check it stays put)."""
    return sum(
        f.experimental_get_tracing_count() for f in fns if hasattr(f, "experimental_get_tracing_count")
    )


def _float_leaves(value: Any) -> list[Any]:
    return [t for t in tf.nest.flatten(value) if isinstance(t, tf.Tensor) and t.dtype in FLOAT_DTYPES]


class SavingHost(Protocol):
    """What :class:`StepFunctions` needs of the Keras hook it serves."""

    collections: CollectionManager
    planner: SavePlanner
    _saving: bool
    _closed: bool
    _recorder: Recorder

    def _save_eager(self, tensors: dict[str, Any]) -> None: ...

    def _emit_saved(self, packed: dict[str, Any]) -> None: ...

    def _watched_variables(self, model: Any) -> list[Any]: ...


class StepFunctions:
    """Installs dispatchers on one model and builds/caches the saving variants."""

    def __init__(self, hook: SavingHost, model: Any) -> None:
        self.hook = hook
        self.model = model
        self.recorder = hook._recorder
        self.plain: dict[str, Any] = {}
        self.saving: dict[tuple[Any, ...], Any] = {}
        self.layouts = Layouts()
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

        With one step per execution and no distribution strategy it is compiled as Keras compiles
        its own (a ``tf.function`` over the iterator that takes the batch inside and calls a
        ``tf.function`` of the step, both ``reduce_retracing``; traced per iterator spec and batch
        shape, so later ``fit`` calls on datasets of the same spec reuse it), except that the
        outputs are returned as they are, not wrapped in a ``tf.experimental.Optional``: Keras
        reads that back with two more eager ops, which cost ~2x as much for the saving step's
        larger output structure. The end of the data raises ``OutOfRangeError`` from the call,
        which ``fit`` handles as it does for its own function. Otherwise Keras builds it
        (``make_train_function(force=True)``)."""
        step_attr, fn_attr, make_attr = _KINDS[kind]
        model = self.model
        step = self._saving_step(getattr(model, step_attr), kind)
        if getattr(model, "steps_per_execution", 1) == 1 and not tf.distribute.has_strategy():
            eager = bool(model.run_eagerly)
            compiled = (
                step
                if eager
                else tf.function(step, reduce_retracing=True, jit_compile=bool(model.jit_compile))
            )
            autoconvert = getattr(model, "_autoconvert_optionals", None)
            inner = compiled if autoconvert is None else autoconvert(compiled)

            def on_iterator(iterator: Any) -> Any:
                return inner(iterator.get_next())

            outer = on_iterator if eager else tf.function(on_iterator, reduce_retracing=True)

            def saving(iterator: Any) -> Any:
                if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
                    return outer(iterator)
                return inner(next(iter(iterator)))

            saving.tracing_count = lambda: _tracing_count(compiled, outer)  # type: ignore[attr-defined]
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
            return {"logs": logs, "smdbg": self.layouts.pack(found, hook.planner.plan)}

        return step


class Layouts:
    """Packs what a saving step captured into two outputs, and unpacks them on the host.

    A step returns ``vec`` (float64: the layout id, then ``rank, dims...`` of each tensor whose
    shape is not static, then every reduction of every tensor) and ``raw`` (the tensors saved
    raw, and scalars). Names, plans, dtypes, static shapes and offsets are fixed when the step is
    traced and kept here under the layout id, so a saved step costs one small device -> host copy
    (plus one per raw tensor) instead of several per tensor. Ids and dims are exact in float64.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[Any, ...], ...]] = []
        self._ids: dict[tuple[tuple[Any, ...], ...], int] = {}

    def pack(self, found: dict[str, Any], plan_of: Callable[[str], Any]) -> dict[str, Any]:
        entries: list[tuple[Any, ...]] = []
        dims: list[Any] = []
        reds: list[Any] = []
        raws: list[Any] = []
        n_red = 0
        for name, t in found.items():
            plan = plan_of(name)
            if plan is None:
                continue
            static = tuple(t.shape.as_list()) if t.shape.is_fully_defined() else None
            if static is None:
                dims += [tf.reshape(tf.cast(tf.rank(t), tf.float64), [1]), tf.cast(tf.shape(t), tf.float64)]
            if plan.reductions:
                reds.append(reduction_vector(t, plan.reductions))
            raw_at = -1
            if plan.raw or is_scalar(t):
                raw_at = len(raws)
                raws.append(t)
            entries.append((name, plan, n_red, t.dtype.name, static, raw_at))
            n_red += len(plan.reductions)
        layout = tuple(entries)
        lid = self._ids.get(layout)
        if lid is None:
            lid = self._ids[layout] = len(self.entries)
            self.entries.append(layout)
        vec = tf.concat([tf.constant([lid], tf.float64), *dims, *reds], 0)
        return {"vec": vec, "raw": tuple(raws)}

    def unpack(
        self, packed: dict[str, Any]
    ) -> Iterator[tuple[str, Any, Any, dict[str, float], tuple[int, ...], str]]:
        """(name, plan, raw host array or None, reductions, shape, dtype) per saved tensor."""
        vec = packed["vec"].numpy().tolist()
        layout = self.entries[int(vec[0])]
        pos = 1
        shapes = []
        for entry in layout:
            shape = entry[4]
            if shape is None:
                rank = int(vec[pos])
                shape = tuple(int(d) for d in vec[pos + 1 : pos + 1 + rank])
                pos += 1 + rank
            shapes.append(shape)
        raws = packed["raw"]
        for (name, plan, at, dtype, _, raw_at), shape in zip(layout, shapes):
            host = np.asarray(raws[raw_at].numpy()) if raw_at >= 0 else None  # .numpy() copies
            n = len(plan.reductions)
            yield name, plan, host, dict(zip(plan.reductions, vec[pos + at : pos + at + n])), shape, dtype
