"""The MXNet Gluon hook: registered blocks, losses, wrapped trainers, modes, Horovod workers.

Only Gluon's public hook points are used: ``Block.register_forward_pre_hook`` and
``Block.register_forward_hook`` on the registered blocks (and, when a collection needs them,
on every child block), plus an instance-level wrapper of ``Trainer.step``/``Trainer.update``
for the trainers passed to :meth:`Hook.wrap_trainer` (no class is patched).

Which values a step holds:

* weights and biases: the values the step's (first) forward used, read right after that
  forward (Gluon initialises deferred parameters inside the first forward);
* gradients: the backward's gradients, read right before the wrapped ``Trainer.step`` updates
  the parameters; without a wrapped trainer, read when the next step begins (the next forward
  of the model, ``set_mode`` or ``close``), as smdebug did — in TRAIN and GLOBAL mode only;
* inputs, outputs and losses: those of the step's first call of each block.

The step ends at ``Trainer.step`` of a wrapped trainer in TRAIN/GLOBAL mode (so gradient
accumulation over several forwards is one step), otherwise at the model's next forward.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from smdbg.hooks.base import BaseHook, guarded, io_patterns
from smdbg.hooks.mxnet._attach import GluonAttachments
from smdbg.hooks.mxnet._import import import_mxnet
from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.reductions import compute_reductions

mx = import_mxnet()

__all__ = ["Hook", "flatten_ndarrays", "GRADIENT_PREFIX"]

log = logging.getLogger("smdbg.hooks")
GRADIENT_PREFIX = "gradient/"
# Collections whose tensors come from the registered blocks themselves (no child hooks needed).
_TOP_LEVEL_ONLY = {"weights", "biases", "gradients", "losses", "scalars", "metrics", "optimizer_variables"}


def flatten_ndarrays(value: Any) -> Iterator[Any]:
    """NDArrays in a block's inputs or outputs, in order; Symbols (graph tracing) and others skipped."""
    if isinstance(value, mx.nd.NDArray):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from flatten_ndarrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from flatten_ndarrays(v)


def _describe(value: Any) -> str:
    """``a <type> (<first line of its repr>)``: short enough for an error message."""
    text = " ".join(repr(value).split())
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__module__}.{type(value).__qualname__} ({text})"


class Hook(BaseHook):
    """smdebug's MXNet ``Hook``: ``hook.register_block(net)``, ``hook.register_block(loss_fn)``,
    optionally ``hook.wrap_trainer(trainer)``; constructor and JSON factory as in BaseHook."""

    framework = "mxnet"
    default_include_collections = ("losses", "scalars")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.attached = GluonAttachments()
        self._forwarded = False
        self._seen: set[str] = set()
        self._child_calls = 0
        self._hybrid_warned: set[int] = set()
        super().__init__(*args, **kwargs)

    # -- collections and identity ---------------------------------------------------------------
    def _register_builtin_collections(self) -> None:
        self.collections.get("weights").include("^(?!gradient).*weight")
        self.collections.get("biases").include("^(?!gradient).*bias")
        self.collections.get("gradients").include("^" + GRADIENT_PREFIX)
        self.collections.get("losses").include(".*loss._(?!input).*output")
        self.collections.get("inputs").include(r"_input_\d+$")
        self.collections.get("outputs").include(r"_output_\d+$")

    def _worker_identity(self) -> tuple[int, int]:
        hvd = sys.modules.get("horovod.mxnet")
        if hvd is not None:
            try:
                return int(hvd.rank()), int(hvd.size())
            except ValueError:  # Horovod imported but not initialised
                pass
        return super()._worker_identity()

    def _to_numpy(self, value: Any) -> np.ndarray:
        if hasattr(value, "asnumpy"):
            return np.asarray(value.asnumpy())
        return np.asarray(value)

    # -- registration ------------------------------------------------------------------------------
    def register_block(self, block: Any) -> None:
        """Save this block's parameters, gradients, inputs and outputs (a loss block: its outputs).

        The first registered non-loss block is the model: its forward starts the steps."""
        if not isinstance(block, mx.gluon.Block):
            raise TypeError(
                f"register_block() got {_describe(block)}: expected an mxnet.gluon.Block (a network such as nn.HybridSequential, or a "
                "gluon.loss.Loss); register the Gluon block itself, not its output or a symbol"
            )
        if self._closed:
            self._check_open()  # raises WriterClosedError
        if self.attached.is_registered(block):
            log.warning("smdbg: the hook is already registered to block %s; ignored", block.name)
            return
        if isinstance(block, mx.gluon.loss.Loss):
            self.attached.add_loss(block, self._on_loss_forward)
            return
        self.attached.add_model(block, self._on_model_pre_forward, self._on_model_forward)
        if self._needs_child_hooks():
            self.attached.hook_children(block, self._on_child_forward)

    def _object_patterns(self, obj: Any, inputs: bool, outputs: bool) -> list[str] | None:
        """``Collection.add_block_tensors(block, inputs, outputs)``: ``^<block name>_output_<i>$`` ..."""
        if not isinstance(obj, mx.gluon.Block):
            return None
        return io_patterns(rf"^{re.escape(obj.name)}_{{kind}}_\d+$", inputs, outputs)

    def _unnamed_object(self, collection: str, obj: Any) -> None:
        log.warning("smdbg: collection %r: %s is not a Gluon block; add_block_tensors takes blocks", collection,
                    _describe(obj))  # fmt: skip

    def register_hook(self, block: Any) -> None:
        """smdebug's alias of :meth:`register_block`."""
        self.register_block(block)

    def wrap_trainer(self, trainer: Any) -> Any:
        """Count steps at ``trainer.step()`` (and ``trainer.update()``) and save gradients right
        before it. Wraps this trainer instance only; returns it."""
        if not isinstance(trainer, mx.gluon.Trainer):
            raise TypeError(
                f"wrap_trainer() got {_describe(trainer)}: expected an mxnet.gluon.Trainer"
                " (gluon.Trainer(net.collect_params(), 'sgd', ...))"
            )
        self.attached.wrap_trainer(trainer, self._before_update, self._after_update)
        return trainer

    def _needs_child_hooks(self) -> bool:
        default = self.collections.get("default")
        for name in self.planner.included:
            if name == "default":
                if default.include_regex or default.tensor_names:
                    return True
            elif name not in _TOP_LEVEL_ONLY:
                return True
        return False

    def include_collection(self, name: str) -> None:
        super().include_collection(name)
        if self.attached.blocks and self._needs_child_hooks():
            for block in self.attached.blocks:
                self.attached.hook_children(block, self._on_child_forward)

    # -- step boundaries -----------------------------------------------------------------------------
    def _trainer_drives(self) -> bool:
        return self.attached.has_trainers() and self.mode in (ModeKeys.TRAIN, ModeKeys.GLOBAL)

    def _advance(self) -> None:
        self._forwarded = False
        self._seen.clear()
        super()._advance()

    def _end_step(self, save_gradients: bool) -> None:
        if save_gradients and self._saving and self.mode in (ModeKeys.TRAIN, ModeKeys.GLOBAL):
            self._save_gradients()
        self._advance()

    @guarded("the model's forward pre-hook")
    def _on_model_pre_forward(self, block: Any, inputs: Any) -> None:
        self._child_calls = 0
        if self._forwarded and not self._trainer_drives():
            self._end_step(save_gradients=True)

    @guarded("the model's forward hook")
    def _on_model_forward(self, block: Any, inputs: Any, outputs: Any) -> None:
        first = not self._forwarded
        self._forwarded = True
        if not self._saving:
            return
        if first:
            self._save_parameters()
        self._save_io(block.name, inputs, outputs, with_inputs=True)
        if block is self.attached.blocks[0]:
            self._check_hybridized(block)

    @guarded("a child block's forward hook")
    def _on_child_forward(self, block: Any, inputs: Any, outputs: Any) -> None:
        self._child_calls += 1
        if self._saving:
            self._save_io(block.name, inputs, outputs, with_inputs=True)

    @guarded("a loss block's forward hook")
    def _on_loss_forward(self, block: Any, inputs: Any, outputs: Any) -> None:
        if self._saving:
            self._save_io(block.name, inputs, outputs, with_inputs=False)

    @guarded("Trainer.step")
    def _before_update(self) -> None:
        if self._saving and self._forwarded and self.mode in (ModeKeys.TRAIN, ModeKeys.GLOBAL):
            self._save_gradients()

    @guarded("Trainer.step")
    def _after_update(self) -> None:
        self._advance()

    def set_mode(self, mode: ModeLike) -> None:
        """Switch mode; a step with a forward in the old mode ends here (its gradients saved)."""
        new = parse_mode(mode)
        if new is not self.mode and self._forwarded and not self._closed:
            self._end_step(save_gradients=not self._trainer_drives())
        super().set_mode(new)

    def close(self, _stopped: str | None = None) -> None:
        if not self._closed and _stopped is None and self._forwarded and not self._trainer_drives():
            if self._saving and self.mode in (ModeKeys.TRAIN, ModeKeys.GLOBAL):
                try:
                    self._save_gradients()
                except Exception as e:
                    self._report_error("close (gradients of the last step)", e)
                    super().close()
                    raise
        super().close(_stopped)

    def _detach(self) -> None:
        self.attached.detach()

    # -- saving -----------------------------------------------------------------------------------------
    def _check_hybridized(self, block: Any) -> None:
        if (
            self._child_calls == 0
            and id(block) in self.attached.child_hooked
            and self.attached.children.get(id(block))
            and id(block) not in self._hybrid_warned
        ):
            self._hybrid_warned.add(id(block))
            message = (
                f"smdbg: block {block.name} is hybridized: its child blocks run inside MXNet's cached "
                "graph, where Gluon forward hooks do not fire, so the inputs and outputs of its child "
                f"blocks are not saved. Still saved: {block.name}'s own inputs and outputs, every "
                "parameter and gradient, losses and scalars. To save child tensors, debug without "
                "net.hybridize()."
            )
            log.warning("%s", message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _save_nd(self, name: str, value: Any) -> None:
        if name in self._seen:
            return
        plan = self.planner.plan(name)
        if plan is None:
            return
        self._seen.add(name)
        self._check_open()
        host = np.asarray(value.asnumpy())
        if host.dtype.kind not in "biufc":
            host = host.astype(np.float64)
        reductions = compute_reductions(host, plan.reductions) if plan.reductions else {}
        self._emit(name, plan, host if plan.raw else None, reductions, tuple(host.shape), str(host.dtype))

    def _save_io(self, block_name: str, inputs: Any, outputs: Any, with_inputs: bool) -> None:
        if with_inputs:
            for i, x in enumerate(flatten_ndarrays(inputs)):
                self._save_nd(f"{block_name}_input_{i}", x)
        for i, y in enumerate(flatten_ndarrays(outputs)):
            self._save_nd(f"{block_name}_output_{i}", y)

    def _save_parameters(self) -> None:
        for name, param in self.attached.params:
            if self.planner.plan(name) is None:
                continue
            try:
                data = param.data(param.list_ctx()[0])
            except mx.gluon.parameter.DeferredInitializationError:
                continue  # not used by any forward yet: nothing to save
            self._save_nd(name, data)

    def _save_gradients(self) -> None:
        for name, param in self.attached.params:
            if param.grad_req == "null":
                continue
            gname = GRADIENT_PREFIX + name
            if self.planner.plan(gname) is None:
                continue
            try:
                grad = param.grad(param.list_ctx()[0])
            except mx.gluon.parameter.DeferredInitializationError:
                continue
            self._save_nd(gname, grad)
