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

import collections
import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.hooks._records import StepRecords
from smdbg.hooks._report import Asked
from smdbg.hooks.base import BaseHook, guarded, io_patterns
from smdbg.hooks.torch._attach import PlanLists, TorchAttachments, TorchTargets
from smdbg.hooks.torch._capture import PendingStep, StepCapture, flatten_tensors, tensors_of
from smdbg.hooks.torch._report import SUPPORTED_DTYPES, drop_unsupported, torch_unsaved
from smdbg.hooks.torch._sharded import dtensor_type
from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.trial._report import NotSaved

__all__ = ["Hook", "flatten_tensors"]

log = logging.getLogger("smdbg.hooks")
_MAX_IN_FLIGHT = 8
_DTENSOR = dtensor_type()


class Hook(BaseHook):
    """smdebug-compatible PyTorch hook. See docs/pytorch.md."""

    framework = "pytorch"
    computes_histograms = True
    default_include_collections = ("losses",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.targets = TorchTargets()
        self.attached = TorchAttachments()
        self._deferred: list[tuple[str, TensorPlan, torch.Tensor]] = []  # loss values not captured yet
        self._step_used = False
        self._calls: dict[int, int] = {}
        self._capture = StepCapture()
        self._in_flight: collections.deque[PendingStep] = collections.deque()
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
        if _DTENSOR is not None and isinstance(value, _DTENSOR):
            raise TypeError(
                f"a DTensor (placements {tuple(getattr(value, 'placements', ()))}) was given to save_tensor/record_tensor_value: "
                "expected a plain tensor; pass dt.full_tensor() (a gather on every rank) or dt.to_local() (this "
                "rank's shard); sharded parameters and gradients of a registered model are saved without it"
            )
        if isinstance(value, torch.Tensor):
            t = value.detach() if value.layout is torch.strided else value.detach().to_dense()
            if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
                t = t.float()
            return t.cpu().numpy()
        return super()._to_numpy(value)

    def _detach(self) -> None:
        self.attached.detach()

    # -- registration ---------------------------------------------------------------------------
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
        if self._capture.entries or self._in_flight or self._deferred:
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
            or self._in_flight
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
        if self._in_flight:
            step, mode, mode_step = self._in_flight[0].info
            self._store.set_progress(step, mode, mode_step)
        else:
            self._store.set_progress(self.step, self.mode.name, self.mode_steps[self.mode])

    def close(self, _stopped: str | None = None) -> None:
        if not self._closed:
            try:
                self._end_capture()
                self._drain_in_flight(wait=True)
            finally:
                super().close(_stopped=_stopped)
        else:
            super().close(_stopped=_stopped)

    # -- capture and hand-over ------------------------------------------------------------------
    def _end_capture(self) -> None:
        """Hand this step's captures over: at once when all values are on the host, else when
        the device copies (CUDA event) are done. Steps are handed over in order."""
        if self._deferred:
            group, self._deferred = self._deferred, []
            self._capture_planned(group)
        if len(self._capture):
            pending = self._capture.finish((self.step, self.mode.name, self.mode_steps[self.mode]))
            if pending.in_flight or self._in_flight:
                self._in_flight.append(pending)
            else:
                self._emit_many(pending.items())  # into the current step's records
        self._drain_in_flight(wait=len(self._in_flight) > _MAX_IN_FLIGHT)

    def _drain_in_flight(self, wait: bool) -> None:
        """Hand over earlier steps whose device -> host copies are done (all, with ``wait``)."""
        while self._in_flight:
            head = self._in_flight[0]
            if not head.ready():
                if not wait:
                    return
                head.wait()
            self._in_flight.popleft()
            batch = StepRecords(*head.info)
            batch.add(head.items())
            self._write_batch(batch)

    def _capture_tensors(self, items: Sequence[tuple[str, Any]]) -> None:
        """Plan and capture (name, tensor) pairs of the current step."""
        group = []
        for name, t in items:
            if not isinstance(t, torch.Tensor):
                continue
            plan = self.planner.plan(name)
            if plan is not None:
                group.append((name, plan, t))
        self._capture_planned(group)

    def _capture_planned(self, group: list[tuple[str, TensorPlan, torch.Tensor]]) -> None:
        if group:
            self._check_open()
            if self._writes:
                if not all(t.dtype in SUPPORTED_DTYPES and not t.is_quantized for _, _, t in group):
                    group = drop_unsupported(group, self._tally.unsupported)  # reported, not saved
                self._capture.add(group)
            else:  # a rank that writes nothing still takes part in sharded tensors' collectives
                self._capture.participate(group)

    # -- PyTorch callbacks ----------------------------------------------------------------------
    @guarded("forward pre-hook")
    def _top_pre_hook(self, module: torch.nn.Module, args: Any) -> None:
        if self._auto_modes and module.training is not (self.mode is ModeKeys.TRAIN):
            self._switch_mode(ModeKeys.TRAIN if module.training else ModeKeys.EVAL)
        if self._optimizer_drives_step():
            return  # attached only to follow the training flag: the optimizer counts the steps
        if self._step_used and not self._caller_steps:
            self._advance()
        self._step_used = True
        if self._saving:  # weights as this forward uses them (the optimizer's hooks do in TRAIN)
            self._capture_tensors(self.targets.params)

    @guarded("forward hook")
    def _module_hook(self, name: str, module: torch.nn.Module, args: Any, output: Any) -> None:
        if not self._saving:
            return
        self._step_used = True
        k = self._calls.get(id(module), 0)
        self._calls[id(module)] = k + 1
        prefix = name if k == 0 else f"{name}_call{k}"
        plan = self.planner.plan
        group = []
        for i, t in enumerate(tensors_of(args)):
            p = plan(f"{prefix}_input_{i}")
            if p is not None:
                group.append((f"{prefix}_input_{i}", p, t))
        for i, t in enumerate(tensors_of(output)):
            p = plan(f"{prefix}_output_{i}")
            if p is not None:
                group.append((f"{prefix}_output_{i}", p, t))
        if group and module in self.targets.losses:
            # a loss value is captured with the weights at the optimizer step (or at the step's
            # end): one pass through the capture code per saved step instead of two
            self._deferred += group
        else:
            self._capture_planned(group)

    @guarded("gradient hook")
    def _grad_hook(self, name: str, param: torch.Tensor) -> None:
        if self._saving and param.grad is not None:
            self._capture_tensors([(f"gradient/{name}", param.grad)])

    def _opt_pre_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._saving and not self._caller_captures:  # else nothing to do on unsaved steps
            self._opt_pre_capture(optimizer)

    @guarded("optimizer pre-step hook")
    def _opt_pre_capture(self, optimizer: torch.optim.Optimizer) -> None:
        if not self._optimizer_drives_step() or optimizer is not self.targets.optimizers[0]:
            return
        # Every registered parameter, also frozen ones the optimizer does not hold (smdebug saved
        # all registered weights; rules such as unchanged_tensor look for frozen layers).
        group, self._deferred = self._deferred, []
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

    # -- entry points of the training-framework integrations (smdbg.integrations) ---------------
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
