"""The PyTorch hook's registration calls (smdebug's): ``register_module`` (``register_hook``),
``register_loss``, ``wrap_optimizer``. Each adds a target to the hook's
:class:`~smdbg.hooks.torch._attach.TorchTargets` and re-syncs what is attached. A mixin of
:class:`~smdbg.hooks.torch.Hook`, which provides what is declared here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import torch

from smdbg.collections import CollectionManager
from smdbg.hooks.torch._attach import TorchAttachments, TorchTargets

__all__ = ["Registration"]


class Registration:
    """What a hook saves from: models, loss modules, optimizers."""

    targets: TorchTargets
    attached: TorchAttachments
    collections: CollectionManager
    _quiet_left: int

    if TYPE_CHECKING:  # declarations only (the hook's own come first in the MRO)

        def _sync_top_hook(self) -> None: ...

        def _sync_attachments(self) -> None: ...

        def _opt_pre_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None: ...

        def _opt_post_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None: ...

    def register_module(self, module: torch.nn.Module) -> None:
        """Save this model's weights, biases, gradients (and inputs/outputs if included).

        Names follow smdebug: ``<ModelClass>_<param name>``, ``gradient/<ModelClass>_<param>``,
        ``<submodule name>_input_<i>`` / ``_output_<i>`` (the model itself is ``<ModelClass>``).
        """
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"register_module({module!r}): expected a torch.nn.Module, got {type(module).__name__}; "
                "pass the model (or use register_loss for a loss module)"
            )
        if module in self.targets.models:
            return
        self.targets.add_model(module, *(self.collections.get(n) for n in ("weights", "biases", "gradients")))
        self._sync_top_hook()
        self.attached.remove_step_hooks()
        self._sync_attachments()

    def register_hook(self, module: torch.nn.Module) -> None:
        """smdebug's older name of :meth:`register_module`."""
        self.register_module(module)

    def register_loss(self, loss_module: torch.nn.Module) -> None:
        """Save the loss module's output as ``<LossClass>_output_0`` (collection ``losses``)."""
        if not isinstance(loss_module, torch.nn.Module):
            raise TypeError(
                f"register_loss({loss_module!r}): expected a torch.nn.Module loss (e.g. nn.CrossEntropyLoss()), "
                f"got {type(loss_module).__name__}; for a loss tensor use hook.save_scalar or record_tensor_value"
            )
        if loss_module in self.targets.losses:
            return
        name = self.targets.add_loss(loss_module)
        losses = self.collections.get("losses")
        losses.add_tensor_name(f"{name}_output_0")
        losses.include(rf"^{re.escape(name)}_call\d+_output_0$")  # later calls in one step
        self.attached.remove_step_hooks()
        self._sync_attachments()

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Count steps by this optimizer's steps and save its state; returns the optimizer."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"wrap_optimizer({optimizer!r}): expected a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if any(o is optimizer for o in self.targets.optimizers):
            return optimizer
        self.targets.optimizers.append(optimizer)
        self._quiet_left = 0
        self.attached.hook_optimizer(optimizer, self._opt_pre_hook, self._opt_post_hook)
        self._sync_top_hook()
        self.attached.remove_step_hooks()  # gradient hooks are not needed with an optimizer
        self._sync_attachments()
        return optimizer
