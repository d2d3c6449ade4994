"""The PyTorch hook's entry points for a training framework that drives the loop itself
(:mod:`smdbg.integrations`: Hugging Face ``Trainer``, Lightning): it knows the mode, where an
evaluation batch ends and when a step's gradients are complete better than the hook's own
PyTorch hook points do. A mixin of :class:`~smdbg.hooks.torch.Hook`, which provides what is
declared here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from smdbg.hooks._records import StepRecords
from smdbg.hooks.torch._attach import TorchAttachments, TorchTargets
from smdbg.modes import ModeKeys, ModeLike, parse_mode

__all__ = ["DrivenSteps"]


class DrivenSteps:
    """``switch_mode``, ``hand_over_saved``, ``end_step``, ``before_optimizer_step``,
    ``watch_forward``."""

    _batch: StepRecords | None
    _closed: bool
    _saving: bool
    _step_used: bool
    _caller_steps: bool  # end_step() was called: forwards no longer end steps
    _caller_captures: bool  # before_optimizer_step() was called: the pre-step hook leaves it
    targets: TorchTargets
    attached: TorchAttachments

    if TYPE_CHECKING:  # declarations only (the hook's own come first in the MRO)

        def _switch_mode(self, new: ModeKeys) -> None: ...

        def _hand_over(self) -> None: ...

        def _advance(self) -> None: ...

        def _optimizer_drives_step(self) -> bool: ...

        def _opt_pre_capture(self, optimizer: torch.optim.Optimizer) -> None: ...

        def _sync_attachments(self) -> None: ...

    def switch_mode(self, mode: ModeLike) -> None:
        """Switch modes like :meth:`set_mode`, but leave :meth:`follow_train_eval` on: for an
        integration that knows more than the training flag says (a prediction loop is PREDICT,
        where ``model.eval()`` says only EVAL). The next ``model.train()`` seen switches to TRAIN."""
        self._switch_mode(parse_mode(mode))

    def hand_over_saved(self) -> None:
        """Hand the values saved since the last step ended (``save_scalar`` ...) to the sinks now,
        under the step and mode under way, so that a mode switch before the next step does not
        move them into the new mode (a trainer that logs a training step's metrics after it)."""
        if self._batch is not None and not self._closed:
            self._hand_over()

    def end_step(self) -> None:
        """End the step under way now, outside TRAIN (where the optimizer counts the steps, this
        does nothing). For an integration that knows where an evaluation batch ends: from the
        first call on, forwards of the model no longer end steps, the caller does."""
        self._caller_steps = True
        if not self._closed and not self._optimizer_drives_step():
            self._step_used = False
            self._advance()

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Capture the step's weights and gradients now instead of in ``optimizer``'s pre-step
        hook: for a trainer whose ``optimizer.step(closure)`` runs forward and backward inside the
        step (Lightning's automatic optimization), so that the pre-step hook would see the
        previous gradients. From the first call on, the pre-step hook leaves this to the caller."""
        self._caller_captures = True
        if self._saving:
            self._opt_pre_capture(optimizer)

    def watch_forward(self, module: torch.nn.Module, tensor_name: str, callback: Callable[..., Any]) -> None:
        """Call ``callback(module, args, output)`` after each forward of ``module`` at the steps
        that save ``tensor_name`` (a forward hook attached at those steps only, with the hook's
        own per-step hooks): for an integration that saves a value from a model's output (a
        Trainer's loss) without a Python call per forward on the other steps."""
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"watch_forward({module!r:.40}): expected a torch.nn.Module, not {type(module).__name__}")
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"watch_forward(tensor_name={tensor_name!r}): expected a non-empty tensor name")
        self.targets.watched.append((module, tensor_name, callback))
        self.attached.remove_step_hooks()
        self._sync_attachments()
