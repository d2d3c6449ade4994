"""The Keras 3 hook: a ``keras.callbacks.Callback`` for ``fit``/``evaluate``/``predict``, plus
``wrap_tape`` and ``wrap_optimizer`` for custom TF2 loops.

Names: variables by their Keras path (``sequential/dense/kernel``), gradients
``gradients/<variable path>``, layer tensors ``<layer name>/inputs`` and ``<layer name>/outputs``,
the batch loss ``loss``, metrics by their log name (``accuracy`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from smdbg.exceptions import StopTrainingRequested
from smdbg.hooks.base import io_patterns
from smdbg.hooks.tf._common import TFHookBase, is_bias, variable_name
from smdbg.hooks.tf._keras_step import Recorder, StepFunctions, _float_leaves
from smdbg.modes import ModeKeys

__all__ = ["KerasHook", "WrappedTape"]


class WrappedTape:
    """A ``tf.GradientTape`` whose ``gradient`` calls save gradients (``gradients/<var>``), the
    variables' values before the update (``weights``/``biases``) and a scalar target (``loss``).
    Entering the tape starts a new step (the previous one is handed to the writer)."""

    def __init__(self, tape: tf.GradientTape, hook: KerasHook) -> None:
        self._tape = tape
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tape, name)

    def __enter__(self) -> WrappedTape:
        self._hook._begin_loop_step()
        self._tape.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._tape.__exit__(*exc)

    def gradient(self, target: Any, sources: Any, *args: Any, **kwargs: Any) -> Any:
        grads = self._tape.gradient(target, sources, *args, **kwargs)
        hook = self._hook
        if hook._saving and not hook._closed:
            try:
                saved: dict[str, Any] = {}
                if isinstance(target, tf.Tensor) and target.shape.rank == 0:
                    hook.collections.get("losses").add_tensor_name("loss")
                    saved["loss"] = target
                for var, grad in zip(tf.nest.flatten(sources), tf.nest.flatten(grads)):
                    if grad is None or not hasattr(var, "name"):
                        continue
                    name = variable_name(var)
                    hook._register_variable(var)
                    saved[name] = var
                    saved["gradients/" + name] = tf.convert_to_tensor(grad)
                hook._save_eager(saved)
            except Exception as e:
                hook._report_error("GradientTape.gradient", e)
                raise
        return grads


class OptimizerProbes:
    """Keras optimizers whose ``apply`` is wrapped (an attribute of the instance, no class is
    patched) so that a callback sees the gradients first; :meth:`restore` unwraps them all."""

    def __init__(self) -> None:
        self._wrapped: list[Any] = []

    def wrap(self, optimizer: Any, on_apply: Callable[[Any, Any], None]) -> None:
        if any(o is optimizer for o in self._wrapped):
            return
        orig = optimizer.apply

        def apply(grads: Any, trainable_variables: Any = None) -> Any:
            tvars = trainable_variables if trainable_variables is not None else optimizer._trainable_variables
            on_apply(grads, tvars)
            return orig(grads, trainable_variables)

        optimizer.apply = apply
        self._wrapped.append(optimizer)

    def restore(self) -> None:
        for opt in self._wrapped:
            if "apply" in opt.__dict__:
                object.__delattr__(opt, "apply")
        self._wrapped = []


class KerasHook(TFHookBase, keras.callbacks.Callback):  # type: ignore[misc]
    """Saves weights, biases, gradients, layer inputs/outputs, losses and metrics of a Keras 3
    model trained with ``fit`` (compiled or ``run_eagerly``), ``evaluate`` and ``predict``.

    Pass it as a callback; nothing else is needed. Unsaved steps run Keras's own compiled step.
    """

    default_include_collections = ("losses", "metrics")  # smdebug's TF defaults (sm_metrics: none here)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._recorder = Recorder()
        self._steps: StepFunctions | None = None
        self._mode_stack: list[ModeKeys] = []
        self._loop_step_open = False
        self._opt_probes = OptimizerProbes()
        self._saved_this_step: set[str] = set()
        TFHookBase.__init__(self, *args, **kwargs)
        keras.callbacks.Callback.__init__(self)

    def _register_builtin_collections(self) -> None:
        self.collections.get("gradients").include(r"^gradients/")
        self.collections.get("inputs").include(r"/inputs(_\d+)?$")
        self.collections.get("outputs").include(r"/outputs(_\d+)?$")
        self.collections.get("losses").add_tensor_name("loss")

    # -- model registration ---------------------------------------------------------------------
    def _register_variable(self, v: Any) -> None:
        name = variable_name(v)
        coll = self.collections.get("biases" if is_bias(name) else "weights")
        if name not in coll.tensor_names:
            coll.add_tensor_name(name)

    def register_model(self, model: Any) -> Any:
        """Know a model outside ``fit`` (custom loops): its trainable variables are saved as
        weights/biases at saved steps, and layer inputs/outputs of eager forward passes."""
        if not isinstance(model, keras.Model):
            raise TypeError(f"register_model({model!r}): expected a keras.Model")
        if not model.built or not model.weights:
            raise ValueError(
                f"model {model.name!r} is not built yet (it has no weights): build it first "
                "(model.build(input_shape), or call it once on a batch), then register it with the hook"
            )
        self.set_model(model)
        for v in model.trainable_weights:
            self._register_variable(v)
        if model.optimizer is not None and getattr(model.optimizer, "built", True):
            self.wrap_optimizer(model.optimizer)
        assert self._steps is not None
        self._steps.install_probes()
        return model

    def set_model(self, model: Any) -> None:
        keras.callbacks.Callback.set_model(self, model)
        if self._steps is not None and self._steps.model is not model:
            self._steps.restore()
            self._steps = None
        if self._steps is None:
            self._steps = StepFunctions(self, model)

    def _watched_variables(self, model: Any) -> list[Any]:
        out = list(model.trainable_weights)
        opt = getattr(model, "optimizer", None)
        if opt is not None and "optimizer_variables" in self.planner.included:
            for v in opt.variables:
                self.collections.get("optimizer_variables").add_tensor_name(variable_name(v))
            out += list(opt.variables)
        return out

    def wrap_optimizer(self, optimizer: Any) -> Any:
        """Record the gradients a Keras 3 optimizer applies (``gradients/<var>``). Returns the same
        optimizer (the probe is an attribute of this instance only)."""
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"wrap_optimizer({type(optimizer).__module__}.{type(optimizer).__name__}): expected a "
                "keras.optimizers.Optimizer; for a tf.compat.v1.train.Optimizer in graph mode use smd.SessionHook"
            )
        self._opt_probes.wrap(optimizer, self._on_apply)
        return optimizer

    def _on_apply(self, grads: Any, tvars: Any) -> None:
        """A wrapped optimizer's ``apply``: record (while a saving step is traced) or save
        (eagerly, on a saved step) the gradients it was given."""
        rec = self._recorder
        if rec.active or (self._saving and tf.executing_eagerly() and not self._closed):
            found: dict[str, Any] = {}
            for g, v in zip(grads, tvars):
                if g is None:
                    continue
                leaves = _float_leaves(tf.convert_to_tensor(g))
                if leaves:
                    found["gradients/" + variable_name(v)] = leaves[0]
            if rec.active:
                for k, t in found.items():
                    rec.add(k, t)
            else:
                self._save_eager(found)

    def record_tensor_value(self, tensor_name: str, tensor_value: Any) -> None:
        """Save a metric a custom loop computed (smdebug's TF2 API): it joins ``metrics`` and is
        saved when that collection is saved at this step (every saved step by default)."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"record_tensor_value tensor_name={tensor_name!r}: expected a non-empty string")
        metrics = self.collections.get("metrics")
        if tensor_name not in metrics.tensor_names:
            metrics.add_tensor_name(tensor_name)
        if self._saving and not self._closed:
            self._save_eager({tensor_name: tensor_value})

    def _object_patterns(self, obj: Any, inputs: bool, outputs: bool) -> list[str] | None:
        """``Collection.add_keras_layer(layer, inputs, outputs)``: ``^<layer name>/outputs$`` ..."""
        if not isinstance(obj, keras.layers.Layer):
            return None
        return io_patterns(rf"^{re.escape(obj.name)}/{{kind}}(_\d+)?$", inputs, outputs, ("inputs", "outputs"))

    def wrap_tape(self, tape: Any) -> WrappedTape:
        """Wrap a ``tf.GradientTape`` of a custom TF2 loop (see :class:`WrappedTape`)."""
        if not isinstance(tape, tf.GradientTape):
            raise TypeError(
                f"wrap_tape({tape!r}): expected a tf.GradientTape, e.g. hook.wrap_tape(tf.GradientTape())"
            )
        return WrappedTape(tape, self)

    def _begin_loop_step(self) -> None:
        if self._closed:
            return
        if self._loop_step_open:
            self._step_end()
        self._loop_step_open = True

    # -- saving ---------------------------------------------------------------------------------
    def _save_eager(self, tensors: Any) -> None:
        fresh = {k: v for k, v in tensors.items() if k not in self._saved_this_step}
        self._saved_this_step.update(fresh)
        super()._save_eager(fresh)

    def _emit_saved(self, packed: dict[str, Any]) -> None:
        """Emit what a compiled saving step returned (called on saved steps only)."""
        assert self._steps is not None
        try:
            self._check_open()
            done = self._saved_this_step
            for name, plan, host, reductions, shape, dtype in self._steps.layouts.unpack(packed):
                if name in done:
                    continue
                done.add(name)
                keep = host is not None and (plan.raw or host.size == 1)  # scalars are always kept raw
                self._emit(name, plan, host if keep else None, reductions, shape, dtype)
        except Exception as e:
            self._report_error("saving step", e)
            raise

    def _save_logs(self, logs: Any) -> None:
        if not logs or not self._saving or self._closed:
            return
        metrics = self.collections.get("metrics")
        values = {}
        for key, value in logs.items():
            if not isinstance(key, str) or key == "outputs":
                continue
            if key != "loss" and key not in metrics.tensor_names:
                metrics.add_tensor_name(key)
            values[key] = value
        self._save_eager(values)

    def _step_end(self) -> None:
        self._saved_this_step.clear()
        try:
            self._advance()
        except StopTrainingRequested:
            if self.model is not None:
                self.model.stop_training = True

    # -- callback ------------------------------------------------------------------------------
    def _begin(self, mode: ModeKeys, kind: str) -> None:
        if self._closed:
            return
        self._mode_stack.append(self.mode)
        self.set_mode(mode)
        model = self.model
        if self._steps is None or self._steps.model is not model:
            self.set_model(model)
        for v in model.trainable_weights:
            self._register_variable(v)
        if getattr(model, "optimizer", None) is not None and kind == "train":
            self.wrap_optimizer(model.optimizer)
        assert self._steps is not None
        self._steps.install_probes()
        self._steps.install(kind)

    def _end(self) -> None:
        if self._closed:
            return
        if self._mode_stack:
            self.set_mode(self._mode_stack.pop())

    def on_train_begin(self, logs: Any = None) -> None:
        self._begin(ModeKeys.TRAIN, "train")

    def on_test_begin(self, logs: Any = None) -> None:
        self._begin(ModeKeys.EVAL, "test")

    def on_predict_begin(self, logs: Any = None) -> None:
        self._begin(ModeKeys.PREDICT, "predict")

    def on_train_end(self, logs: Any = None) -> None:
        self._end()

    def on_test_end(self, logs: Any = None) -> None:
        self._end()

    def on_predict_end(self, logs: Any = None) -> None:
        self._end()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self._closed:
            return
        if self._saving:
            self._save_logs(logs)
        self._step_end()

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self.on_train_batch_end(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        if self._closed:
            return
        if (
            self._saving
            and logs
            and "outputs" in logs
            and not any(k.endswith("/outputs") for k in self._saved_this_step)
        ):
            self.collections.get("outputs").add_tensor_name("model/outputs")
            self._save_eager({"model/outputs": _float_leaves(tf.convert_to_tensor(logs["outputs"]))[0]})
        self._step_end()

    def _detach(self) -> None:
        if self._steps is not None:
            self._steps.restore()
        self._opt_probes.restore()
