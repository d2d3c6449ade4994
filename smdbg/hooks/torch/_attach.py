"""What a PyTorch hook is attached to, as objects: its targets and the handles it placed.

:class:`TorchTargets` is the registry (models with smdebug's names for their modules and
parameters, loss modules, wrapped optimizers) and answers "which of them are saved at this
step, with which plans" as lists, built once per planner cache key (:class:`PlanLists`) and
reused at every saved step. :class:`TorchAttachments` holds every PyTorch hook handle the hook
placed (optimizer step hooks, the model's forward pre-hook, the per-module forward hooks and
gradient hooks of a saved step) and removes them. Neither knows the hook's step logic: the
callbacks are passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from smdbg.collections import Collection
from smdbg.hooks._plan import SavePlanner, TensorPlan

__all__ = ["TorchTargets", "TorchAttachments", "PlanLists"]

ParamRow = tuple[str, "TensorPlan | None", torch.nn.Parameter, str, "TensorPlan | None"]
StateRow = tuple[str, TensorPlan, torch.Tensor, str]
ModuleCallback = Callable[[str], Callable[..., Any]]
# Path components that wrappers insert between a model and its layers (FSDP1's and activation
# checkpointing's): the names are those of the unwrapped model.
_WRAPPER_PARTS = frozenset({"_fsdp_wrapped_module", "_checkpoint_wrapped_module"})


def unwrapped_name(path: str) -> str:
    """A module or parameter path without wrapper components (``a._fsdp_wrapped_module.w`` -> ``a.w``)."""
    if "_wrapped_module" not in path:
        return path
    return ".".join(p for p in path.split(".") if p not in _WRAPPER_PARTS)


def model_class_name(module: torch.nn.Module) -> str:
    """The model's class name; for a module FSDP2's ``fully_shard`` made an ``FSDP<Class>``
    of, the class it was (so that names do not change when a model is sharded)."""
    cls = type(module)
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch without distributed
        return cls.__name__
    if isinstance(module, FSDPModule):
        for base in cls.__mro__[1:]:
            if issubclass(base, torch.nn.Module) and not issubclass(base, FSDPModule):
                return base.__name__
    return cls.__name__


class PlanLists:
    """Per-step lists (parameters, gradients, optimizer states, hooks to attach, with their
    plans) built once per planner cache key and reused while it stays the same."""

    def __init__(self, planner: SavePlanner) -> None:
        self.planner = planner
        self._lists: dict[Any, list[Any]] = {}

    def get(self, kind: Any, build: Callable[[], list[Any]]) -> list[Any]:
        key = (kind, self.planner.cache_key)
        cached = self._lists.get(key)
        if cached is None:
            if len(self._lists) > 64:
                self._lists.clear()
            cached = self._lists[key] = build()
        return cached


class TorchTargets:
    """The models, losses and optimizers a PyTorch hook was given, and smdebug's names."""

    def __init__(self) -> None:
        self.models: list[torch.nn.Module] = []
        self.module_names: dict[torch.nn.Module, str] = {}
        self.params: list[tuple[str, torch.nn.Parameter]] = []
        self.param_names: dict[int, str] = {}
        self.losses: list[torch.nn.Module] = []
        self.optimizers: list[torch.optim.Optimizer] = []
        # (module, tensor name, callback): forward hooks an integration wants at the steps that
        # save that name (DrivenSteps.watch_forward)
        self.watched: list[tuple[torch.nn.Module, str, Callable[..., Any]]] = []

    def add_model(self, module: torch.nn.Module, weights: Collection, biases: Collection, grads: Collection) -> None:
        """Register a model: ``<ModelClass>_<param name>``, ``gradient/<ModelClass>_<param>``
        join the collections; submodules are named by their path (the model: its class)."""
        top = model_class_name(module)  # Module._get_name(), unless FSDP2 renamed the class
        self.models.append(module)
        for name, sub in module.named_modules():
            self.module_names.setdefault(sub, unwrapped_name(name) or top)
        for wrapped, p in module.named_parameters():
            pname = unwrapped_name(wrapped)
            full = f"{top}_{pname}"
            if id(p) in self.param_names:
                continue
            self.param_names[id(p)] = full
            self.params.append((full, p))
            (biases if pname.rsplit(".", 1)[-1].startswith("bias") else weights).add_tensor_name(full)
            grads.add_tensor_name(f"gradient/{full}")

    def add_loss(self, loss_module: torch.nn.Module) -> str:
        """Register a loss module; returns its name (its class name)."""
        name = type(loss_module).__name__
        self.module_names[loss_module] = name
        self.losses.append(loss_module)
        return name

    def key(self) -> tuple[int, int, int, int, int]:
        """Changes when a model, loss, parameter, optimizer or watched module is added (plan lists
        depend on it)."""
        return len(self.models), len(self.losses), len(self.params), len(self.optimizers), len(self.watched)

    def param_plans(self, planner: SavePlanner) -> list[ParamRow]:
        """(name, plan, parameter, gradient name, gradient plan) of each parameter saved now."""
        plan = planner.plan
        rows: list[ParamRow] = []
        for name, p in self.params:
            gname = f"gradient/{name}"
            row = (name, plan(name), p, gname, plan(gname))
            if row[1] is not None or row[4] is not None:
                rows.append(row)
        return rows

    def state_plans(self, optimizer: torch.optim.Optimizer, coll: Collection, planner: SavePlanner) -> list[Any]:
        """(name, plan, parameter, state key) of each optimizer state tensor (Adam's moments ...)
        saved now, named ``<Optimizer>_<param>_<key>``; each name joins ``coll`` (the
        ``optimizer_variables`` collection) the first time it is seen."""
        prefix = type(optimizer).__name__
        found = []
        for gi, group in enumerate(optimizer.param_groups):
            for pi, p in enumerate(group["params"]):
                pname = self.param_names.get(id(p), f"group{gi}.param{pi}")
                for key, value in (optimizer.state.get(p) or {}).items():
                    if isinstance(value, torch.Tensor) and value.dim() > 0:
                        found.append((f"{prefix}_{pname}_{key}", p, key))
        for name, _, _ in found:
            if name not in coll.tensor_names:
                coll.add_tensor_name(name)  # plan() below sees the change (its cache is dropped)
        plan = planner.plan
        return [(name, plan(name), p, key) for name, p, key in found if plan(name) is not None]

    def step_hook_plan(
        self, planner: SavePlanner, module_hook: ModuleCallback, grad_hook: ModuleCallback
    ) -> list[tuple[str, Any, Any]]:
        """Which modules (inputs/outputs saved, or watched for a tensor saved now) and parameters
        (gradients, when no optimizer is wrapped) get a hook at a saved step with the current
        plans, with their callbacks."""
        plan = planner.plan
        rows: list[tuple[str, Any, Any]] = []
        for module in [sub for model in self.models for sub in model.modules()] + self.losses:
            name = self.module_names.get(module)
            if name is not None and (plan(f"{name}_output_0") or plan(f"{name}_input_0")):
                rows.append(("module", module, module_hook(name)))
        if not self.optimizers:
            for full, p in self.params:
                if p.requires_grad and plan(f"gradient/{full}"):
                    rows.append(("grad", p, grad_hook(full)))
        rows += [("module", module, callback) for module, name, callback in self.watched if plan(name)]
        return rows


class TorchAttachments:
    """Every PyTorch hook handle a hook placed; :meth:`detach` removes them all."""

    def __init__(self) -> None:
        self._handles: list[Any] = []  # optimizer step hooks: as long as the hook is open
        self._top: Any = None  # the model's forward pre-hook, while no optimizer drives steps
        self._step: list[Any] = []  # per-module forward and gradient hooks of saved steps
        self._step_for: Any = None

    def hook_optimizer(self, optimizer: torch.optim.Optimizer, pre: Callable[..., Any], post: Callable[..., Any]) -> None:
        self._handles.append(optimizer.register_step_pre_hook(pre))
        self._handles.append(optimizer.register_step_post_hook(post))

    def set_top(self, model: torch.nn.Module | None, callback: Callable[..., Any]) -> None:
        """The forward pre-hook on ``model`` (None: removed)."""
        if model is not None and self._top is None:
            self._top = model.register_forward_pre_hook(callback)
        elif model is None and self._top is not None:
            self._top.remove()
            self._top = None

    @property
    def has_step_hooks(self) -> bool:
        return bool(self._step)

    def set_step_hooks(self, key: Any, rows: Callable[[], list[tuple[str, Any, Any]]]) -> None:
        """Attach the hooks ``rows()`` lists for the active collections ``key`` (kept if they are
        attached for that key already)."""
        if self._step and key == self._step_for:
            return
        self.remove_step_hooks()
        self._step_for = key
        for kind, target, callback in rows():
            if kind == "grad":
                self._step.append(target.register_post_accumulate_grad_hook(callback))
            else:
                self._step.append(target.register_forward_hook(callback))
        if not self._step:
            self._step.append(None)  # nothing to attach this step; do not look again

    def remove_step_hooks(self) -> None:
        for h in self._step:
            if h is not None:
                h.remove()
        self._step.clear()

    def detach(self) -> None:
        self.remove_step_hooks()
        self.set_top(None, lambda *a: None)
        for h in self._handles:
            h.remove()
        self._handles.clear()
