"""What the training-framework callbacks share: the hook they drive, built from keyword
arguments, a JSON hook config or a hook the caller made; the refusal of another framework's
hook or trial; a trainer's logged metrics as scalars; the losses of an optimizer step.

Nothing here imports a training framework beyond PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections.abc import Mapping
from typing import Any

import torch

from smdbg import fs
from smdbg.hook_config import HookConfig, find_config_path, load_hook_config
from smdbg.hooks._options import HookOptions
from smdbg.hooks.torch import Hook

__all__ = [
    "CallbackCore", "HookSpec", "WrongFrameworkError", "LossAccumulator", "LOSS_NAME", "save_metrics",
    "innermost_optimizer",
]  # fmt: skip

log = logging.getLogger("smdbg.integrations")

#: ``record_tensor_value("loss", ...)`` stores this name, in the ``losses`` collection.
LOSS_NAME = "loss_output_0"


class WrongFrameworkError(TypeError):
    """A callback was given a hook, hook config or trial of another framework than PyTorch."""


def _framework_of(obj: Any) -> str:
    return str(getattr(obj, "framework", None) or type(obj).__module__.split(".")[0])


class HookSpec:
    """How a callback gets its hook: checked when the callback is made (so a bad value fails
    before training starts), the hook itself built on first use.

    ``out_dir``: the trial; ``config``: a JSON hook config in smdebug's format (a file path, or
    the parsed object), else ``$SMDBG_CONFIG_FILE_PATH``; ``hook``: a PyTorch hook made by the
    caller (then neither of the others); ``options``: :class:`smdbg.pytorch.Hook` keyword
    arguments, which win over the config's values.
    """

    def __init__(self, who: str, out_dir: str | os.PathLike[str] | None, config: Any, hook: Any,
                 options: Mapping[str, Any]) -> None:  # fmt: skip
        self.who = who
        self.hook = hook
        self.config: HookConfig | None = None
        self.options = dict(options)
        if hook is not None:
            if not isinstance(hook, Hook):
                raise WrongFrameworkError(
                    f"{who}(hook={type(hook).__module__}.{type(hook).__name__}): a {_framework_of(hook)} hook; "
                    "expected a smdbg.pytorch.Hook (this callback instruments PyTorch models)"
                )
            if out_dir is not None or config is not None or options:
                raise ValueError(f"{who}: hook= was given with out_dir, config or hook options; "
                                 "pass either a hook or the options to make one")  # fmt: skip
            return
        self.config = self._read_config(config)
        if out_dir is not None:
            self.options["out_dir"] = os.fspath(out_dir)
        if self.config is None and "out_dir" not in self.options:
            raise ValueError(
                f"{who}: no out_dir, config or hook given; expected out_dir='/path/to/trial', a JSON hook "
                "config (config='hook.json'), or $SMDBG_CONFIG_FILE_PATH naming one"
            )
        kwargs = self._kwargs()
        HookOptions.from_args(**kwargs)  # a bad option fails here, before training starts
        self._check_trial(str(kwargs["out_dir"]))

    def _read_config(self, config: Any) -> HookConfig | None:
        if config is None:
            path = find_config_path()
            return load_hook_config(path) if path is not None else None
        if hasattr(config, "framework") or type(config).__module__.startswith(("tensorflow", "keras", "mxnet")):
            raise WrongFrameworkError(
                f"{self.who}(config={type(config).__name__}): a {_framework_of(config)} object, not a hook "
                "config; expected a JSON hook config (a path, or its parsed object) for a PyTorch hook"
            )
        if isinstance(config, (str, os.PathLike)):
            return load_hook_config(config)
        if isinstance(config, Mapping):
            return HookConfig.from_dict(config, source=f"{self.who} config", strict=True)
        raise TypeError(f"{self.who}(config={config!r:.80}): expected a JSON hook config path or a dict")

    def _check_trial(self, out_dir: str) -> None:
        """A trial already at ``out_dir`` written by another framework's hook is refused."""
        try:
            meta = json.loads(fs.read_bytes(fs.join(out_dir, "trial.json")))
        except (FileNotFoundError, NotADirectoryError, ValueError, OSError):
            return
        framework = meta.get("framework") if isinstance(meta, dict) else None
        if framework not in (None, Hook.framework):
            raise WrongFrameworkError(
                f"{self.who}: the trial at {out_dir} was written by a {framework} hook; expected a new "
                "trial directory (or one of a PyTorch run): choose another out_dir"
            )

    def _kwargs(self) -> dict[str, Any]:
        return {**(self.config.hook_kwargs() if self.config else {}), **self.options}

    def make(self) -> Hook:
        """The hook (built once)."""
        if self.hook is None:
            hook = Hook(**self._kwargs())
            for cc in self.config.collection_configs if self.config else ():
                hook.collections.apply_config(cc)
            self.hook = hook
        hook_: Hook = self.hook
        return hook_


def save_metrics(hook: Hook, metrics: Mapping[str, Any]) -> int:
    """Each number of ``metrics`` (a trainer's logged values) as ``hook.save_scalar(name, v)``;
    other values (strings, lists) are skipped. Returns how many were saved."""
    n = 0
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(name, str) or not name:
            continue
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.detach().float().item()
        if isinstance(value, (int, float)):
            hook.save_scalar(name, float(value))
            n += 1
    return n


def innermost_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The PyTorch optimizer inside a trainer's wrappers (accelerate's ``AcceleratedOptimizer``,
    Lightning's ``LightningOptimizer`` keep it as ``.optimizer``), whose step hooks fire."""
    opt = optimizer
    while isinstance(getattr(opt, "optimizer", None), torch.optim.Optimizer):
        opt = opt.optimizer
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"optimizer {type(optimizer).__name__}: expected a torch.optim.Optimizer (or a wrapper of one)")
    return opt


class LossAccumulator:
    """The losses of the micro-batches of one optimizer step, kept only when the step saves
    losses; :meth:`record` stores their mean (or sum) as ``loss_output_0``."""

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []

    @staticmethod
    def wanted(hook: Hook) -> bool:
        """Whether the step under way saves ``loss_output_0`` (a flag on the steps that save
        nothing, else one cached lookup)."""
        return hook._saving and hook.planner.plan(LOSS_NAME) is not None

    def add(self, hook: Hook, loss: Any) -> None:
        if self.wanted(hook) and isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self._losses.append(loss.detach().reshape(()))

    def record(self, hook: Hook, mean: bool = True) -> None:
        """Save the kept losses (their mean, or their sum) at the step under way."""
        losses, self._losses = self._losses, []
        if losses and self.wanted(hook):
            value = losses[0] if len(losses) == 1 else torch.stack(losses).float()
            if len(losses) > 1:
                value = value.mean() if mean else value.sum()
            hook.record_tensor_value("loss", value)


def _close_left_open(hook: Hook) -> None:
    """A callback's hook still open when the callback is collected or the interpreter exits
    (training raised, or ``keep_open=True`` and no ``close()``): closed now, so that the trial
    gets its last steps, its save report and its end marker."""
    if not hook._closed:
        log.warning("smdbg: closing the hook of a SmdbgCallback that was left open (training raised, or keep_open "
                    "without close()); trial %s", hook.out_dir)  # fmt: skip
        hook.close()


class CallbackCore:
    """What the training-framework callbacks share: the hook, built on first use from a
    :class:`HookSpec`, and its closing. ``close()`` closes it (idempotent); a hook the
    callback did not close by then is closed when the callback is garbage-collected or the
    interpreter exits (``weakref.finalize``): after an exception in a training loop that has no
    callback event for it (Hugging Face's), the trial still ends with its end marker."""

    def __init__(self, out_dir: str | os.PathLike[str] | None = None, *, config: Any = None, hook: Any = None,
                 keep_open: bool = False, **hook_options: Any) -> None:  # fmt: skip
        self._spec = HookSpec("SmdbgCallback", out_dir, config, hook, hook_options)
        self.keep_open = keep_open
        self.hook: Hook | None = None
        self._losses = LossAccumulator()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _make_hook(self) -> Hook:
        """The hook (made on the first call, with its closing at exit)."""
        hook = self.hook
        if hook is None:
            hook = self.hook = self._spec.make()
            self._finalizer = weakref.finalize(self, _close_left_open, hook)
        return hook

    def _live(self) -> Hook | None:
        """The hook while it is open, else None."""
        hook = self.hook
        return None if hook is None or hook._closed else hook

    def close(self) -> None:
        """Close the hook (publish, write the save report and the end marker). Idempotent."""
        if self._finalizer is not None:
            self._finalizer.detach()
        if self.hook is not None:
            self.hook.close()
