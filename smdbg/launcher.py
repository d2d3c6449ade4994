"""Zero-code-change instrumentation: run an unmodified PyTorch script with a hook.

:class:`AutoInstrument` installs PyTorch's public *global* hooks
(``register_module_forward_pre_hook`` / ``register_module_forward_hook`` and
``register_optimizer_step_pre_hook``). On the first top-level module call it creates the hook
(from a JSON config, or defaults and an output directory), registers that module as the model
(or, for a ``torch.nn`` loss module, as the loss), and wraps every optimizer on its first step.
A ``DistributedDataParallel``/``DataParallel`` wrapper is unwrapped, so tensor names are the same
as in a one-process run; the rank comes from ``torch.distributed`` (else ``$RANK``). A script that
already created its own hook (``smd.get_hook(create_if_not_exists=True)``) keeps it: the launcher
adopts that hook instead of opening a second writer on the same trial.
The global module hooks are removed at the first optimizer step, so training then runs with
the per-model hooks only. The mode follows the model's ``model.train()``/``model.eval()``
(``Hook.follow_train_eval``) unless the script calls ``hook.set_mode`` itself. :func:`run_script` runs the script with ``runpy`` in this process and
closes the hook at the end, whatever happens.
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from collections.abc import Mapping
from typing import Any

import torch

from smdbg import _settings
from smdbg.exceptions import TrialExistsError
from smdbg.hook_config import find_config_path
from smdbg.hooks.base import current_hook
from smdbg.hooks.pytorch import Hook
from smdbg.store.format import worker_dirname
from smdbg.store.fs import open_fs
from smdbg.store.lease import refuse_existing

__all__ = ["AutoInstrument", "run_script", "default_out_dir"]


def default_out_dir(script: str) -> str:
    stem = os.path.splitext(os.path.basename(script))[0] or "script"
    return os.path.abspath(f"smdbg-trials/{stem}-{time.strftime('%Y%m%d-%H%M%S')}")


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The model inside a (Distributed)DataParallel wrapper, else the module itself."""
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    inner = getattr(module, "module", None)
    return inner if isinstance(module, wrappers) and isinstance(inner, torch.nn.Module) else module


class AutoInstrument:
    """Creates and attaches a :class:`Hook` lazily from PyTorch's global hooks."""

    def __init__(
        self,
        config_path: str | None = None,
        out_dir: str | None = None,
        hook_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config_path = find_config_path(config_path)
        self.hook_options = dict(hook_options or {})  # Hook keyword arguments; override the config
        if self.config_path is None and out_dir is None:
            raise ValueError(
                "no hook config and no output directory: pass --config hook.json, --out DIR, "
                "or set SMDBG_CONFIG_FILE_PATH"
            )
        self.out_dir = out_dir
        self.hook: Hook | None = None
        self._depth = 0
        self._wrapped: set[int] = set()
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        self._module_handles = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, always_call=True),
        ]
        self._opt_handle = register_optimizer_step_pre_hook(self._opt_pre)

    def _ensure_hook(self) -> Hook:
        if self.hook is None:
            existing = current_hook(Hook.framework)  # the script made its own: one writer per trial
            if isinstance(existing, Hook):
                self.hook = existing
            elif self.config_path is not None:
                extra: dict[str, Any] = {"out_dir": self.out_dir} if self.out_dir else {}
                self.hook = Hook.create_from_json_file(self.config_path, **extra, **self.hook_options)  # type: ignore[assignment]
            else:
                assert self.out_dir is not None
                self.hook = Hook(self.out_dir, **self.hook_options)
        assert self.hook is not None
        return self.hook

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        depth, self._depth = self._depth, self._depth + 1
        if depth == 0:
            hook = self._ensure_hook()
            if isinstance(module, torch.nn.modules.loss._Loss):
                hook.register_loss(module)
            elif not hook.targets.models:
                hook.register_module(_unwrap(module))
                hook.follow_train_eval()  # model.train()/eval() set TRAIN/EVAL, unless the script sets modes

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._depth = max(0, self._depth - 1)

    def _opt_pre(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if id(optimizer) in self._wrapped:
            return
        self._wrapped.add(id(optimizer))
        self._ensure_hook().wrap_optimizer(optimizer)
        for h in self._module_handles:  # not inside a module call here: safe to remove
            h.remove()
        self._module_handles.clear()

    def close(self) -> None:
        """Remove the global hooks and close the hook (idempotent)."""
        for h in self._module_handles:
            h.remove()
        self._module_handles.clear()
        self._opt_handle.remove()
        if self.hook is not None:
            self.hook.close()


def run_script(
    script: str,
    args: list[str],
    config_path: str | None = None,
    out_dir: str | None = None,
    hook_options: Mapping[str, Any] | None = None,
) -> int:
    """Run ``script`` as ``__main__`` with ``args`` under an :class:`AutoInstrument`; exit code.
    ``hook_options`` (``include_collections``, ``save_config``, ``reduction_config`` ...) are
    passed to the hook, over what the JSON config says."""
    if not os.path.isfile(script):
        raise FileNotFoundError(f"training script {script!r} does not exist: expected a path to a .py file")
    if find_config_path(config_path) is None and out_dir is None:
        out_dir = default_out_dir(script)
    if out_dir is not None:  # refuse a used out_dir before the script spends time loading data
        refuse_existing(open_fs(out_dir), worker_dirname(f"worker_{_settings.RANK.get() or '0'}"))
    auto = AutoInstrument(config_path, out_dir, hook_options)
    old_argv, old_path0 = sys.argv, sys.path[0] if sys.path else None
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    code = 0
    refused = False
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except TrialExistsError:
        refused = True
        raise
    finally:
        sys.argv = old_argv
        if old_path0 is not None and sys.path and sys.path[0] != old_path0:
            sys.path.pop(0)
        auto.close()
        hook = auto.hook
        if hook is None:
            print("smdbg: no trial written: the script never called a module", file=sys.stderr)
        elif not refused:
            print(f"smdbg: trial at {hook.out_dir} (look into it: smdbg trial summary {hook.out_dir})",
                  file=sys.stderr)  # fmt: skip
    return code
