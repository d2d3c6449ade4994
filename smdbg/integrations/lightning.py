"""Lightning callback: ``L.Trainer(..., callbacks=[SmdbgCallback("/tmp/run")])``.

Needs lightning (``pip install 'smdbg[lightning]'``). See docs/integrations.md.

* Steps are optimizer steps: ``accumulate_grad_batches`` micro-batches are one step. Lightning's
  automatic optimization runs forward and backward inside ``optimizer.step(closure)``, so the
  weights and gradients of a step are captured at ``on_before_optimizer_step`` (after the
  closure and any gradient clipping, before the update); the step ends in the optimizer's
  post-step hook (after the update, with its optimizer state).
* Modes: fitting is TRAIN, validation and test batches EVAL, prediction batches PREDICT; one
  step per evaluation batch (each mode counting its own).
* The loss of a training step is the sum of the losses Lightning passes to backward (it divides
  each micro-batch's loss by ``accumulate_grad_batches``: the mean micro-batch loss), saved as
  ``loss_output_0`` (collection ``losses``); an evaluation batch's loss is the tensor its
  ``validation_step``/``test_step`` returns (or its ``"loss"``).
* Values logged with ``self.log`` become scalars (``scalar/<name>``): at Lightning's logging
  steps (``log_every_n_steps``) and at the end of each validation or test run, each value that
  changed since it was last saved.
"""

from __future__ import annotations

import os
from typing import Any

from smdbg._optional import require

require("lightning", extra="lightning", feature="smdbg.integrations.lightning")

import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

from smdbg.integrations._common import (  # noqa: E402
    CallbackCore,
    WrongFrameworkError,
    innermost_optimizer,
    save_metrics,
)
from smdbg.modes import ModeKeys  # noqa: E402

__all__ = ["SmdbgCallback", "WrongFrameworkError"]


class SmdbgCallback(CallbackCore, Callback):
    """Saves a LightningModule's weights, gradients, losses and logged values into a smdbg trial.

    Arguments as :class:`smdbg.integrations.transformers.SmdbgCallback`: ``out_dir``,
    ``config`` (smdebug's JSON hook config, a path or its parsed object; default
    ``$SMDBG_CONFIG_FILE_PATH``), ``hook`` (a ``smdbg.pytorch.Hook`` made by the caller) and
    any ``smdbg.pytorch.Hook`` keyword argument. Bad values raise here, before training starts.
    The hook is closed at the end of the first ``fit``/``validate``/``test``/``predict`` it
    instruments, unless ``keep_open=True`` (then call :meth:`close` after the last one), and
    when training raises (``on_exception``).
    """

    def __init__(self, out_dir: str | os.PathLike[str] | None = None, *, config: Any = None, hook: Any = None,
                 keep_open: bool = False, **hook_options: Any) -> None:  # fmt: skip
        super().__init__(out_dir, config=config, hook=hook, keep_open=keep_open, **hook_options)
        self._module: torch.nn.Module | None = None
        self._saved: dict[str, float] = {}  # metric name -> the value saved last
        self._in_batch = False  # an evaluation or prediction step is under way
        self._outer: Any = None  # the optimizer last given to on_before_optimizer_step, and inside it
        self._inner: Any = None

    # -- set-up and tear-down -------------------------------------------------------------------
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        hook = self._make_hook()
        if pl_module is not self._module:
            hook.register_module(pl_module)
            self._module = pl_module

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        hook = self._live()
        if hook is None:
            return
        for opt in trainer.optimizers[:1]:  # the first optimizer drives the step (as in the hook)
            hook.wrap_optimizer(innermost_optimizer(opt))
        hook.switch_mode(ModeKeys.TRAIN)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if not self.keep_open:
            self.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.close()

    # -- training -------------------------------------------------------------------------------
    def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
        hook = self._live()
        if hook is not None and hook.mode is ModeKeys.TRAIN:
            self._losses.add(hook, loss)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        hook = self._live()
        if hook is not None and hook.mode is ModeKeys.TRAIN:
            self._losses.record(hook, mean=False)
            every = trainer.log_every_n_steps
            if every and (trainer.global_step + 1) % every == 0:  # Lightning's logging steps
                self._save_logged(trainer)
            if optimizer is not self._outer:  # the trainer's wrapper: unwrapped once
                self._outer, self._inner = optimizer, innermost_optimizer(optimizer)
            hook.before_optimizer_step(self._inner)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._save_logged(trainer)

    # -- evaluation and prediction: one step per batch ----------------------------------------
    # A batch's step ends when the next batch starts, or at the end of the run after the values
    # logged at its end are saved: those belong to the run's last step, in its mode.
    def _begin(self, mode: ModeKeys) -> None:
        hook = self._live()
        if hook is not None:
            hook.switch_mode(mode)
        self._in_batch = False

    def _batch_start(self) -> None:
        hook = self._live()
        if hook is not None and self._in_batch:
            hook.end_step()
        self._in_batch = True

    def _batch_end(self, outputs: Any) -> None:
        hook = self._live()
        if hook is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and self._losses.wanted(hook):
            hook.record_tensor_value("loss", loss.detach())

    def _end(self, trainer: Any) -> None:
        self._save_logged(trainer)
        hook = self._live()
        if hook is None:
            return
        if self._in_batch:
            hook.end_step()
            self._in_batch = False
        if getattr(trainer.state.fn, "value", None) == "fit" and not trainer.sanity_checking:
            hook.switch_mode(ModeKeys.TRAIN)  # validation inside fit: back to training

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin(ModeKeys.EVAL)

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:  # fmt: skip
        self._batch_start()

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:  # fmt: skip
        self._batch_end(outputs)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._end(trainer)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin(ModeKeys.EVAL)

    def on_test_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:  # fmt: skip
        self._batch_start()

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:  # fmt: skip
        self._batch_end(outputs)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._end(trainer)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._begin(ModeKeys.PREDICT)

    def on_predict_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:  # fmt: skip
        self._batch_start()

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._end(trainer)

    # -- logged values ----------------------------------------------------------------------------
    def _save_logged(self, trainer: Any) -> None:
        """Values of ``self.log`` that changed since they were saved, as scalars."""
        hook = self._live()
        if hook is None:
            return
        values = {}
        for name, value in trainer.callback_metrics.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.detach().float().item()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and self._saved.get(name) != value:
                values[name] = self._saved[name] = float(value)
        if values:
            save_metrics(hook, values)
