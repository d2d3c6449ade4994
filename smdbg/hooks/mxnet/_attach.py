"""What an MXNet hook is attached to, as one object: the Gluon blocks and trainers it was given
and every forward hook handle and trainer wrapper it placed (all removed by ``detach``).

The callbacks are passed in: this object knows nothing of steps or saving.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from smdbg.hooks.mxnet._import import import_mxnet

mx = import_mxnet()

__all__ = ["GluonAttachments"]

Callback = Callable[..., Any]


class GluonAttachments:
    """Registered blocks (the first non-loss block is the model), their parameters, child
    blocks and the hooks on them, and wrapped trainers (instance attributes, no class patched)."""

    def __init__(self) -> None:
        self.blocks: list[Any] = []  # registered model (non-loss) blocks; the first drives steps
        self.params: list[tuple[str, Any]] = []  # (name, gluon Parameter), each once
        self.children: dict[int, list[Any]] = {}  # registered block -> its descendant blocks
        self.child_hooked: set[int] = set()  # registered blocks whose children have hooks
        self._registered: set[int] = set()
        self._handles: list[Any] = []
        self._trainers: dict[int, tuple[Any, Any, Any]] = {}  # id -> (trainer, step, update)

    def is_registered(self, block: Any) -> bool:
        return id(block) in self._registered

    def add_loss(self, block: Any, on_forward: Callback) -> None:
        self._registered.add(id(block))
        self._handles.append(block.register_forward_hook(on_forward))

    def add_model(self, block: Any, on_pre_forward: Callback, on_forward: Callback) -> None:
        """Register a model block: its parameters, its descendants; the pre-forward hook only on
        the first (the model whose forward starts a step)."""
        self._registered.add(id(block))
        primary = not self.blocks
        self.blocks.append(block)
        seen = {n for n, _ in self.params}
        for param in block.collect_params().values():
            if param.name not in seen:
                seen.add(param.name)
                self.params.append((param.name, param))
        descendants: list[Any] = []
        block.apply(lambda b: descendants.append(b) if b is not block else None)
        self.children[id(block)] = descendants
        if primary:
            self._handles.append(block.register_forward_pre_hook(on_pre_forward))
        self._handles.append(block.register_forward_hook(on_forward))

    def hook_children(self, block: Any, on_forward: Callback) -> None:
        """Forward hooks on the block's descendants (not losses, not registered blocks)."""
        if id(block) in self.child_hooked:
            return
        self.child_hooked.add(id(block))
        for child in self.children[id(block)]:
            if isinstance(child, mx.gluon.loss.Loss) or id(child) in self._registered:
                continue
            self._handles.append(child.register_forward_hook(on_forward))

    def has_trainers(self) -> bool:
        return bool(self._trainers)

    def wrap_trainer(self, trainer: Any, before: Callable[[], None], after: Callable[[], None]) -> None:
        """Call ``before``/``after`` around this instance's ``step`` and ``update``."""
        if id(trainer) in self._trainers:
            return
        step, update = trainer.step, trainer.update

        def wrap(fn: Callback) -> Callback:
            @functools.wraps(fn)
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                before()
                out = fn(*args, **kwargs)
                after()
                return out

            return wrapped

        trainer.step, trainer.update = wrap(step), wrap(update)
        self._trainers[id(trainer)] = (trainer, step, update)

    def detach(self) -> None:
        handles, self._handles = self._handles, []
        for h in handles:
            h.detach()
        for trainer, step, update in self._trainers.values():
            trainer.step, trainer.update = step, update
        self._trainers.clear()
