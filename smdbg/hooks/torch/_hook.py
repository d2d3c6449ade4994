"""The PyTorch hook: modules, losses, wrapped optimizers, modes, distributed workers.

Only PyTorch's public hook points are used: a forward pre-hook on the registered model (step
counting without an optimizer), optimizer step pre/post hooks on wrapped optimizers (step
counting, weights, gradients and optimizer state), and — on saved steps only — forward hooks on
submodules and losses and post-accumulate-grad hooks on parameters. On steps that are not
saved the per-module hooks are not even attached, so PyTorch keeps its fast call path.

Which values a step holds (with a wrapped optimizer): weights and gradients as they are right
before ``optimizer.step()`` (the weights the step's forward used, the complete accumulated
gradients), optimizer state (Adam's moments ...) right after it (including this step's update).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from smdbg.hooks._report import Asked
from smdbg.hooks.base import BaseHook, guarded, io_patterns
from smdbg.hooks.torch._attach import PlanLists, TorchAttachments, TorchTargets
from smdbg.hooks.torch._capture import flatten_tensors
from smdbg.hooks.torch._driven import DrivenSteps
from smdbg.hooks.torch._pipeline import CapturePipeline, Planned, io_group, planned
from smdbg.hooks.torch._register import Registration
from smdbg.hooks.torch._report import torch_unsaved
from smdbg.hooks.torch._sharded import refuse_dtensor
from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.trial._report import NotSaved

__all__ = ["Hook", "flatten_tensors"]

log = logging.getLogger("smdbg.hooks")


class Hook(BaseHook, Registration, DrivenSteps):
    """smdebug-compatible PyTorch hook. See docs/pytorch.md."""

    framework = "pytorch"
    computes_histograms = True
    default_include_collections = ("losses",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.targets = TorchTargets()
        self.attached = TorchAttachments()
        self._step_used = False
        self._calls: dict[int, int] = {}
        self._pipe = CapturePipeline(self._report_error)  # this step's captures, and earlier steps' copies in flight
        self._driver: Any = None  # the optimizer whose steps count (for the fast path)
        self._quiet_at = -1  # _quiet_mark() when the fast path was entered
        self._auto_modes = False  # modes follow the model's training flag (follow_train_eval)
        self._modes_set = False  # the script called set_mode
        self._warned: set[tuple[str, int]] = set()
        self._caller_steps = False  # end_step() was called: forwards no longer end steps
        self._caller_captures = False  # before_optimizer_step() was called: the pre-step hook leaves it
        self._called: set[int] = set()  # modules whose forward hook ran at a saved step (save report)
        super().__init__(*args, **kwargs)
        self._lists = PlanLists(self.planner)

    # -- framework specifics for BaseHook -------------------------------------------------------
    def _register_builtin_collections(self) -> None:
        # Explicit names are added at registration; these patterns cover saved tensors of
        # modules registered later and names written by hand (smdebug's patterns).
        self.collections.get("weights").include(r"^(?!gradient/).*weight$")
        self.collections.get("biases").include(r"^(?!gradient/).*bias$")
        self.collections.get("gradients").include(r"^gradient/")
        self.collections.get("inputs").include(r"_input_\d+$")
        self.collections.get("outputs").include(r"_output_\d+$")
        # smdebug's pattern: record_tensor_value("loss", t) -> "loss_output_0" is a loss
        self.collections.get("losses").include(r"[Ll]oss_(?!input).*output")

    def _worker_identity(self) -> tuple[int, int]:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
        return super()._worker_identity()

    def _to_numpy(self, value: Any) -> Any:
        refuse_dtensor(value)  # sharded tensors of a registered model are saved from their shards
        if isinstance(value, torch.Tensor):
            t = value.detach() if value.layout is torch.strided else value.detach().to_dense()
            if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
                t = t.float()
            return t.cpu().numpy()
        return super()._to_numpy(value)

    def _detach(self) -> None:
        self.attached.detach()

    # -- step and mode --------------------------------------------------------------------------
    def _optimizer_drives_step(self) -> bool:
        return bool(self.targets.optimizers) and (self.mode is ModeKeys.TRAIN or self.mode is ModeKeys.GLOBAL)

    def set_mode(self, mode: ModeLike) -> None:
        """Switch modes (see BaseHook.set_mode; a step that saw a forward ends). Ends :meth:`follow_train_eval`."""
        self._modes_set = True
        self._auto_modes = False
        self._switch_mode(parse_mode(mode))

    def follow_train_eval(self) -> bool:
        """Let ``model.train()`` / ``model.eval()`` of the first registered model switch the mode
        to TRAIN / EVAL (seen at the model's next forward), until the script calls
        :meth:`set_mode`. ``smdbg run`` turns this on. False (and nothing changes) when the
        script has set a mode already."""
        if self._modes_set or self._closed:
            return False
        self._auto_modes = True
        if self.targets.models:  # the mode of the step under way, from the flag as it is now
            self._switch_mode(ModeKeys.TRAIN if self.targets.models[0].training else ModeKeys.EVAL)
        self._sync_top_hook()
        return True

    def _switch_mode(self, new: ModeKeys) -> None:
        if new is self.mode:
            return
        if self._step_used and not self._closed:
            self._advance()
        super().set_mode(new)
        self._sync_top_hook()
        self._sync_attachments()

    def _sync_top_hook(self) -> None:
        """The forward pre-hook on the model counts steps where no optimizer does (no optimizer,
        or EVAL/PREDICT) and reads the training flag for :meth:`follow_train_eval`; else it is
        off, so the model keeps PyTorch's fast call path on every step."""
        want = bool(self.targets.models) and not self._closed
        want = want and (self._auto_modes or not self._optimizer_drives_step())
        self.attached.set_top(self.targets.models[0] if want else None, self._top_pre_hook)

    def _object_patterns(self, obj: Any, inputs: bool, outputs: bool) -> list[str] | None:
        """``Collection.add_module_tensors``: ``^<module name>(_call<k>)?_output_<i>$`` ..., once
        the module's model is registered."""
        name = self.targets.module_names.get(obj)
        return None if name is None else io_patterns(rf"^{re.escape(name)}(_call\d+)?_{{kind}}_\d+$", inputs, outputs)

    def _unnamed_object(self, collection: str, obj: Any) -> None:
        if self.targets.models and (collection, id(obj)) not in self._warned:
            self._warned.add((collection, id(obj)))
            log.warning("smdbg: collection %r has a %s that is in no registered model; its tensors are "
                        "saved once hook.register_module() gets its model", collection, type(obj).__name__)

    def _sync_attachments(self) -> None:
        """Attach per-module and gradient hooks for a saved step; remove them otherwise."""
        if not (self._saving and not self._closed and (not self._started or self._writes)):
            self.attached.remove_step_hooks()
            return
        kind = ("attach", self.targets.key())
        self.attached.set_step_hooks(
            self.planner.cache_key,  # changes with the active collections and any collection edit
            lambda: self._lists.get(kind, functools.partial(
                self.targets.step_hook_plan, self.planner,
                lambda name: functools.partial(self._module_hook, name),
                lambda name: functools.partial(self._grad_hook, name),
            )),
        )  # fmt: skip

    def include_collection(self, name: str) -> None:
        super().include_collection(name)
        self._sync_attachments()

    def record_tensor_value(self, tensor_name: str, tensor_value: Any) -> None:
        """Save a tensor the script computed (a functional loss ...) as ``<tensor_name>_output_0``
        (smdebug's name); it is in ``losses`` when the name matches smdebug's loss pattern
        (``record_tensor_value("loss", loss)``)."""
        if not isinstance(tensor_name, str) or not tensor_name:
            raise ValueError(f"record_tensor_value tensor_name={tensor_name!r}: expected a non-empty string")
        if not isinstance(tensor_value, torch.Tensor):
            raise TypeError(f"record_tensor_value({tensor_name!r}, {tensor_value!r:.60}): expected a torch.Tensor")
        super().record_tensor_value(f"{tensor_name}_output_0", tensor_value)

    def _advance(self) -> None:
        if not self._started and not self._closed:
            self._start()  # from the first step on, progress is published even if nothing is saved
        if self._pipe.busy:
            self._end_capture()
        self._step_used = False
        if self._calls:
            self._called.update(self._calls)
            self._calls.clear()
        super()._advance()
        if self._saving or self.attached.has_step_hooks:
            self._sync_attachments()
        self._quiet_left = self._quiet_count()

    def _quiet_count(self) -> int:
        """How many next optimizer steps may take the fast path of ``_opt_post_hook``: steps
        known to save nothing, with nothing pending from this one."""
        if (
            self._saving
            or self.attached.has_step_hooks
            or self._pipe.in_flight
            or self._batch is not None
            or self._closed
            or self.options.stop_check_secs <= 0
            or not self._optimizer_drives_step()
        ):
            return 0
        self._driver = self.targets.optimizers[0]
        self._quiet_at = self._quiet_mark()
        return self.planner.quiet_steps(self.mode, self.mode_steps[self.mode])

    def _publish_progress(self) -> None:
        if self._store is None:
            return
        oldest = self._pipe.oldest()
        if oldest is not None:
            self._store.set_progress(*oldest)
        else:
            self._store.set_progress(self.step, self.mode.name, self.mode_steps[self.mode])

    def close(self, _stopped: str | None = None) -> None:
        if not self._closed:
            try:
                self._end_capture()
                self._pipe.drain(True, self._write_batch)
            finally:
                self._pipe.close()
                super().close(_stopped=_stopped)
        else:
            super().close(_stopped=_stopped)

    def flush(self) -> None:
        """Publish every finished step: those whose device copies or worker histograms were
        still in flight are waited for first (the step under way is not finished)."""
        if not self._closed:
            self._pipe.drain(True, self._write_batch)
        super().flush()

    # -- capture and hand-over ------------------------------------------------------------------
    def _end_capture(self) -> None:
        """Hand this step's captures over (see :meth:`CapturePipeline.end_step`), in step order."""
        if self._pipe.deferred:
            self._capture_planned(self._pipe.take_deferred())
        info = (self.step, self.mode.name, self.mode_steps[self.mode])
        self._pipe.end_step(info, self._emit_many, self._write_batch)

    def _capture_planned(self, group: list[Planned]) -> None:
        if group:
            self._check_open()
            self._pipe.add(group, self._writes, self._tally.unsupported)

    # -- PyTorch callbacks ----------------------------------------------------------------------
    def _top_pre_hook(self, module: torch.nn.Module, args: Any) -> None:
        # Fast path: training with an optimizer that counts the steps, attached only to follow
        # the training flag (follow_train_eval), which still says TRAIN: nothing to do. It runs
        # at every forward, right after the previous step's work has evicted the caches.
        if module.training and self.mode is ModeKeys.TRAIN and self.targets.optimizers:
            return
        self._top_pre_full(module)

    @guarded("forward pre-hook")
    def _top_pre_full(self, module: torch.nn.Module) -> None:
        if self._auto_modes and module.training is not (self.mode is ModeKeys.TRAIN):
            self._switch_mode(ModeKeys.TRAIN if module.training else ModeKeys.EVAL)
        if self._optimizer_drives_step():
            return  # attached only to follow the training flag: the optimizer counts the steps
        if self._step_used and not self._caller_steps:
            self._advance()
        self._step_used = True
        if self._saving:  # weights as this forward uses them (the optimizer's hooks do in TRAIN)
            self._capture_planned(planned(self.planner, self.targets.params))

    @guarded("forward hook")
    def _module_hook(self, name: str, module: torch.nn.Module, args: Any, output: Any) -> None:
        if not self._saving:
            return
        self._step_used = True
        k = self._calls.get(id(module), 0)
        self._calls[id(module)] = k + 1
        group = io_group(self.planner, name if k == 0 else f"{name}_call{k}", args, output)
        if group and module in self.targets.losses:
            # a loss value is captured with the weights at the optimizer step (or at the step's
            # end): one pass through the capture code per saved step instead of two
            self._pipe.deferred += group
        else:
            self._capture_planned(group)

    @guarded("gradient hook")
    def _grad_hook(self, name: str, param: torch.Tensor) -> None:
        if self._saving and param.grad is not None:
            self._capture_planned(planned(self.planner, [(f"gradient/{name}", param.grad)]))

    def _opt_pre_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._saving and not self._caller_captures:  # else nothing to do on unsaved steps
            self._opt_pre_capture(optimizer)

    @guarded("optimizer pre-step hook")
    def _opt_pre_capture(self, optimizer: torch.optim.Optimizer) -> None:
        if not self._optimizer_drives_step() or optimizer is not self.targets.optimizers[0]:
            return
        # Every registered parameter, also frozen ones the optimizer does not hold (smdebug saved
        # all registered weights; rules such as unchanged_tensor look for frozen layers).
        group = self._pipe.take_deferred()
        rows = self._lists.get(("params", self.targets.key()), lambda: self.targets.param_plans(self.planner))
        for name, plan, p, gname, gplan in rows:
            if plan is not None:
                group.append((name, plan, p))
            if gplan is not None and p.grad is not None:
                group.append((gname, gplan, p.grad))
        self._capture_planned(group)

    def _opt_post_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # Fast path: a step known to save nothing (see _quiet_count) is only counted, until the
        # store's writer ticked or a collection changed (_quiet_mark). It runs cold after a
        # training step's work has evicted the caches, so it touches as little as it can.
        q = self._quiet_left
        if q and self._ticks.n + self.collections.version == self._quiet_at:
            if optimizer is self._driver:
                self._quiet_left = q - 1
                self.step += 1
                self._unfolded += 1
            return
        self._opt_post_full(optimizer)

    @guarded("optimizer post-step hook")
    def _opt_post_full(self, optimizer: torch.optim.Optimizer) -> None:
        if not self._optimizer_drives_step():
            return
        if self._saving:
            kind = ("state", id(optimizer), len(optimizer.state), len(optimizer.param_groups), self.targets.key())
            coll = self.collections.get("optimizer_variables")
            rows = self._lists.get(kind, functools.partial(self.targets.state_plans, optimizer, coll, self.planner))
            group = []
            for name, plan, p, key in rows:
                value = optimizer.state.get(p, {}).get(key)
                if isinstance(value, torch.Tensor):
                    group.append((name, plan, value))
            self._capture_planned(group)
        if optimizer is self.targets.optimizers[0]:
            self._advance()

    def _unsaved(self, asked: Asked, saved: Mapping[str, Any]) -> Iterable[NotSaved]:
        return torch_unsaved(self.targets, asked, saved, self._called | set(self._calls))
