"""Hugging Face ``Trainer`` callback: ``Trainer(..., callbacks=[SmdbgCallback("/tmp/run")])``.

Needs transformers (``pip install 'smdbg[transformers]'``). See docs/integrations.md.

* Steps are optimizer steps: the callback wraps the PyTorch optimizer inside the Trainer's
  (accelerate's ``AcceleratedOptimizer``), whose step hooks fire once per
  ``gradient_accumulation_steps`` micro-batches; weights and gradients are those right before
  ``optimizer.step()`` (after gradient clipping).
* Modes follow ``model.train()`` / ``model.eval()``, which the Trainer calls itself: training
  steps are TRAIN, evaluation batches EVAL (one step per batch, each mode counting its own).
  ``Trainer.predict`` tells callbacks nothing before its loop: run it inside
  ``with callback.predicting():`` to record its batches as PREDICT (else they are EVAL).
* The loss: the model output's ``loss`` (the mean over the micro-batches of a step) as
  ``loss_output_0`` (collection ``losses``), on the steps that save losses.
* What the Trainer logs (``loss``, ``learning_rate``, ``grad_norm``, ``eval_*`` ...) becomes
  scalars (``scalar/<name>``) at the step it was logged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from smdbg._optional import require

require("transformers", extra="transformers", feature="smdbg.integrations.transformers")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from smdbg.hooks.torch import Hook  # noqa: E402
from smdbg.integrations._common import (  # noqa: E402
    LOSS_NAME,
    CallbackCore,
    WrongFrameworkError,
    innermost_optimizer,
    save_metrics,
)
from smdbg.modes import ModeKeys  # noqa: E402

__all__ = ["SmdbgCallback", "WrongFrameworkError"]


class SmdbgCallback(CallbackCore, TrainerCallback):
    """Saves a Trainer's model, gradients, losses and logged metrics into a smdbg trial.

    ``out_dir``: the trial directory or URL; ``config``: smdebug's JSON hook config (a path or
    its parsed object; default ``$SMDBG_CONFIG_FILE_PATH``); ``hook``: a ``smdbg.pytorch.Hook``
    made by the caller instead; ``hook_options``: any ``smdbg.pytorch.Hook`` keyword argument
    (``save_config``, ``include_collections``, ``reduction_config`` ...), winning over the
    config. Bad values (a TensorFlow or MXNet hook, a trial written by another framework, an
    unknown config key) raise here, before training starts. The hook is closed when training
    ends, unless ``keep_open=True`` (then call :meth:`close` after the last ``evaluate`` or
    ``predict``). The Trainer tells callbacks nothing when training raises: the hook is then
    closed when the callback is garbage-collected or the interpreter exits (in a session that
    goes on, call :meth:`close`). Pass it to the ``Trainer`` constructor so that it sees the
    model at once.
    """

    def __init__(self, out_dir: str | os.PathLike[str] | None = None, *, config: Any = None, hook: Any = None,
                 keep_open: bool = False, **hook_options: Any) -> None:  # fmt: skip
        super().__init__(out_dir, config=config, hook=hook, keep_open=keep_open, **hook_options)
        self._model: torch.nn.Module | None = None

    def _attach(self, model: Any) -> Hook:
        hook = self._make_hook()
        if isinstance(model, torch.nn.Module) and model is not self._model:
            hook.register_module(model)
            self._model = model
            # only at the steps that save losses: no Python call per micro-batch on the others
            hook.watch_forward(model, LOSS_NAME, self._forward)
            hook.follow_train_eval()
        return hook

    def _forward(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        """The model's loss, at the steps that save it: kept for the optimizer step (TRAIN), saved
        at once (an evaluation step is one forward)."""
        hook = self.hook
        if hook is None or not isinstance(output, dict):  # ModelOutput is a dict
            return
        loss = output.get("loss")
        if loss is None:
            return
        if module.training:
            self._losses.add(hook, loss)
        elif isinstance(loss, torch.Tensor) and loss.numel() == 1 and self._losses.wanted(hook):
            hook.record_tensor_value("loss", loss.detach())

    # -- Trainer events -------------------------------------------------------------------------
    def on_init_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._attach(model)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       **kwargs: Any) -> None:  # fmt: skip
        hook = self._attach(model)
        if optimizer is not None:
            hook.wrap_optimizer(innermost_optimizer(optimizer))

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.hook is not None:
            self._losses.record(self.hook)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        hook = self.hook
        if hook is not None and logs and not hook._closed:
            save_metrics(hook, logs)
            if hook.mode is ModeKeys.TRAIN:  # they stay TRAIN values if an evaluation follows
                hook.hand_over_saved()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.keep_open:
            self.close()

    # -- for the script ------------------------------------------------------------------------
    @contextlib.contextmanager
    def predicting(self) -> Iterator[None]:
        """``with callback.predicting(): trainer.predict(ds)`` records its batches as PREDICT."""
        if self.hook is None or self._model is None:
            raise RuntimeError(
                "SmdbgCallback.predicting(): the callback has not seen a model yet; pass it to "
                "Trainer(callbacks=[...]) before calling predict"
            )
        self.hook.switch_mode(ModeKeys.PREDICT)
        try:
            yield
        finally:
            if not self.hook._closed:
                self.hook.switch_mode(ModeKeys.TRAIN if self._model.training else ModeKeys.EVAL)
