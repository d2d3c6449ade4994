"""Which modules, parameters and optimizer states a PyTorch hook touches at a saved step.

The PyTorch ``Hook`` inherits these; each list is built once per planner cache key (the plans
of every tensor are then the same) and reused at every saved step, so a saved step does not
re-plan a model's modules and parameters. Attaching per-module and gradient hooks for a saved
step, and removing them after it, lives here too.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner

__all__ = ["StepPlans"]


class StepPlans:
    """Cached per-step lists of the PyTorch hook (its state lives in ``Hook``)."""

    planner: SavePlanner
    collections: CollectionManager
    _saving: bool
    _closed: bool
    _started: bool
    _writes: bool
    _models: list[torch.nn.Module]
    _module_names: dict[torch.nn.Module, str]
    _params: list[tuple[str, torch.nn.Parameter]]
    _param_names: dict[int, str]
    _losses: list[torch.nn.Module]
    _optimizers: list[torch.optim.Optimizer]
    _step_handles: list[Any]
    _attached_for: frozenset[str] | None
    _step_lists: dict[Any, list[Any]]

    def _module_hook(self, name: str, module: torch.nn.Module, args: Any, output: Any) -> None:
        raise NotImplementedError

    def _grad_hook(self, name: str, param: torch.Tensor) -> None:
        raise NotImplementedError

    def _planned(self, kind: Any, build: Any) -> list[Any]:
        """A per-step list (which parameters, gradients, optimizer states are saved, with their
        plans) built once per planner cache key instead of being re-planned every saved step."""
        key = (kind, self.planner.cache_key, len(self._params))
        cached = self._step_lists.get(key)
        if cached is None:
            if len(self._step_lists) > 64:
                self._step_lists.clear()
            cached = self._step_lists[key] = build()
        return cached

    def _sync_attachments(self) -> None:
        """Attach per-module and gradient hooks for a saved step; remove them otherwise."""
        want = self._saving and not self._closed and (not self._started or self._writes)
        if not want:
            self._remove_step_handles()
            return
        active = self.planner.active_key
        if self._step_handles and active == self._attached_for:
            return
        self._remove_step_handles()
        self._attached_for = active
        key = ("attach", len(self._models), len(self._losses), bool(self._optimizers))
        for kind, target, callback in self._planned(key, self._attach_plan):
            if kind == "grad":
                handle = target.register_post_accumulate_grad_hook(callback)
            else:
                handle = target.register_forward_hook(callback)
            self._step_handles.append(handle)
        if not self._step_handles:
            self._step_handles.append(None)  # nothing to attach this step; do not look again

    def _attach_plan(self) -> list[tuple[str, Any, Any]]:
        """Which modules (inputs/outputs saved) and parameters (gradients, when no optimizer is
        wrapped) get a hook at a saved step with the current plans, with their callbacks."""
        plan = self.planner.plan
        rows: list[tuple[str, Any, Any]] = []
        for module in [sub for model in self._models for sub in model.modules()] + self._losses:
            name = self._module_names.get(module)
            if name is not None and (plan(f"{name}_output_0") or plan(f"{name}_input_0")):
                rows.append(("module", module, functools.partial(self._module_hook, name)))
        if not self._optimizers:
            for full, p in self._params:
                if p.requires_grad and plan(f"gradient/{full}"):
                    rows.append(("grad", p, functools.partial(self._grad_hook, full)))
        return rows

    def _remove_step_handles(self) -> None:
        for h in self._step_handles:
            if h is not None:
                h.remove()
        self._step_handles.clear()

    def _param_plans(self) -> list[tuple[str, Any, torch.nn.Parameter, str, Any]]:
        plan = self.planner.plan
        rows = []
        for name, p in self._params:
            gname = f"gradient/{name}"
            row = (name, plan(name), p, gname, plan(gname))
            if row[1] is not None or row[4] is not None:
                rows.append(row)
        return rows

    def _state_plans(self, optimizer: torch.optim.Optimizer) -> list[tuple[str, Any, Any, str]]:
        """Optimizer state tensors (Adam's moments ...) named ``<Optimizer>_<param>_<key>``; each
        name joins the ``optimizer_variables`` collection the first time it is seen."""
        prefix = type(optimizer).__name__
        found = []
        for gi, group in enumerate(optimizer.param_groups):
            for pi, p in enumerate(group["params"]):
                pname = self._param_names.get(id(p), f"group{gi}.param{pi}")
                for key, value in (optimizer.state.get(p) or {}).items():
                    if isinstance(value, torch.Tensor) and value.dim() > 0:
                        found.append((f"{prefix}_{pname}_{key}", p, key))
        coll = self.collections.get("optimizer_variables")
        for name, _, _ in found:
            if name not in coll.tensor_names:
                coll.add_tensor_name(name)  # plan() below sees the change (its cache is dropped)
        plan = self.planner.plan
        return [(name, plan(name), p, key) for name, p, key in found if plan(name) is not None]
