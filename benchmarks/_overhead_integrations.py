"""Training-framework integration cases of the hook-overhead benchmark
(``python benchmarks/hook_overhead.py --framework integrations``).

Each block is one ``Trainer.train()`` (Hugging Face, a small BERT from a config) or
``Trainer.fit()`` (Lightning, a small MLP module) of ``args.steps`` optimizer steps on one model
shared by every block; a timing callback, first in the list, times the training loop from the
end of its first step (where the hook starts) to ``on_train_end``, so the trainers' set-up and
the hook's close are outside the timed part. The sides compared, at the hook's defaults
(losses, every 500 steps):

* ``bare hook``: the hook as a script would add it by hand with a few lines in a callback of its
  own (``Hook``, ``register_module``, ``wrap_optimizer`` of the PyTorch optimizer);
* ``SmdbgCallback``: the integration's callback (modes, losses, logged values as scalars);
* ``no hook``: the trainer alone.

Rows: bare hook against bare hook (the noise of the run), the callback against the bare hook
(the integration's own cost: target <= 1%), the callback against no hook. ``hook_overhead.py``
runs the two sides of a row alternately, block after block, and reports the median of the
per-pair ratios with their quartiles: many short blocks (``--steps 30 --repeats 25``) timed in
the process's CPU time (the default ``--clock cpu`` here) resist the machine's drift and the
other jobs on it far better than a few long blocks in wall time. With ``--block-stat median`` a
block's figure is its median step instead of the mean over its window: a burst of another job
then moves a few steps, not the block, but costs that come once per block (the Trainer's last log,
the writer's flush) are left out (``--self-time`` counts them).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["Setup", "block", "cases", "cleanup", "setups"]

_TMP: list[str] = []
# The timers' clock: the process's CPU time by default (``--clock cpu``), which other jobs on a
# shared machine barely move, unlike wall time (``--clock wall``); the writer's thread is counted.
_CLOCK: list[Callable[[], float]] = [time.process_time]
# A block's seconds per step: the mean over its timed window (default), or the median step
# (``--block-stat median``).
_STAT: list[str] = ["mean"]
Case = tuple[str, str, Callable[[], float], Callable[[], float]]
# fit(callbacks, steps): one training run of ``steps`` steps with these callbacks
Fit = Callable[[list[Any], int], None]


class _Window:
    """The timed window of a block (mixed into each framework's timing callback): ``start()`` at
    the end of every training step reads ``t0`` once, then the end of each later step
    (``ends``), ``stop()`` at the end of training ``t1``; ``at_start``/``at_stop``
    (``--self-time``) run right before ``t0`` and right after ``t1``."""

    t0 = t1 = 0.0
    at_start: Callable[[], None] | None = None
    at_stop: Callable[[], None] | None = None
    ends: list[float]

    def start(self) -> None:
        if self.t0:
            self.ends.append(_CLOCK[0]())
            return
        if self.at_start is not None:
            self.at_start()
        self.ends = []
        self.t0 = _CLOCK[0]()

    def stop(self) -> None:
        self.t1 = _CLOCK[0]()
        if self.at_stop is not None:
            self.at_stop()


def _trial_dir() -> str:
    d = tempfile.mkdtemp(prefix="smdbg-bench-integ-")
    _TMP.append(d)
    return d + "/trial"


def cleanup() -> None:
    for d in _TMP:
        shutil.rmtree(d, ignore_errors=True)
    _TMP.clear()


@dataclasses.dataclass
class Setup:
    """One framework's pieces, shared by the A/B rows and ``--self-time``
    (``_integration_self_time.py``): ``fit(callbacks, steps)`` trains ``model`` (one model for
    every block); ``timer()`` makes the timing callback (``t0``, ``t1``, and ``at_start`` /
    ``at_stop``, called right before ``t0`` and right after ``t1`` are read); ``bare()`` the
    hand-made hook callback (``hook``); ``callback()`` a ``SmdbgCallback``; ``base`` is the
    framework's callback class."""

    name: str
    steps: int
    fit: Fit
    timer: Callable[[], Any]
    bare: Callable[[], Any]
    callback: Callable[[], Any]
    model: torch.nn.Module
    base: type


def block(s: Setup, make: Callable[[], Any] | None, clock: Any = None) -> float:
    """One ``fit`` of ``s.steps`` steps with the callback ``make()`` makes (None: no hook):
    seconds per step from the end of the first step to the end of training. ``clock``: a timing
    callback made by ``s.timer()`` (with ``at_start``/``at_stop`` set), else a new one."""
    clock = clock or s.timer()
    extra = make() if make else None
    s.fit([clock] + ([extra] if extra is not None else []), s.steps)
    if getattr(extra, "hook", None) is not None and not extra.hook._closed:
        extra.hook.close()  # the bare hook (the callback closed its own)
    if _STAT[0] == "median":  # the median step: blind to once-per-block costs and to outliers
        ends = [clock.t0] + clock.ends
        return float(statistics.median(b - a for a, b in zip(ends, ends[1:])))
    return float((clock.t1 - clock.t0) / (s.steps - 1))


def _rows(s: Setup) -> list[Case]:
    """The three rows of one framework."""

    def run(make: Callable[[], Any] | None) -> Callable[[], float]:
        return lambda: block(s, make)

    bare_run = run(s.bare)
    cb_run = run(s.callback)
    return [
        (s.name, "bare hook vs bare hook (noise)", bare_run, run(s.bare)),
        (s.name, "SmdbgCallback vs bare hook", bare_run, cb_run),
        (s.name, "SmdbgCallback vs no hook", run(None), cb_run),
    ]


def _hf_setup(steps: int) -> Setup:
    import transformers

    import smdbg.pytorch as smd
    from smdbg.integrations._common import innermost_optimizer
    from smdbg.integrations.transformers import SmdbgCallback

    cfg = transformers.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=64, num_labels=2)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_config(cfg)
    g = torch.Generator().manual_seed(1)
    data = [{"input_ids": torch.randint(0, 1000, (32,), generator=g), "labels": torch.tensor(i % 2)}
            for i in range(64)]  # fmt: skip

    class Timer(transformers.TrainerCallback, _Window):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            self.start()

        def on_train_end(self, *a: Any, **k: Any) -> None:
            self.stop()

    class BareHook(transformers.TrainerCallback):
        hook: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                           **k: Any) -> None:  # fmt: skip
            self.hook = smd.Hook(_trial_dir())
            self.hook.register_module(model)
            self.hook.wrap_optimizer(innermost_optimizer(optimizer))

    def fit(callbacks: list[Any], n: int) -> None:
        args = transformers.TrainingArguments(
            output_dir=_trial_dir() + "-hf", max_steps=n, per_device_train_batch_size=8, report_to=[],
            use_cpu=True, save_strategy="no", disable_tqdm=True, logging_steps=50, dataloader_num_workers=0,
        )  # fmt: skip
        transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()

    return Setup("hf bert 2x64", steps, fit, Timer, BareHook, lambda: SmdbgCallback(_trial_dir()), model,
                 transformers.TrainerCallback)  # fmt: skip


def _lightning_setup(steps: int) -> Setup:
    import lightning as L

    import smdbg.pytorch as smd
    from smdbg.integrations._common import innermost_optimizer
    from smdbg.integrations.lightning import SmdbgCallback

    class MLP(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                           torch.nn.ReLU(), torch.nn.Linear(256, 10))  # fmt: skip

        def training_step(self, batch: Any, i: int) -> torch.Tensor:
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(64 * 16, 784)
    y = torch.randint(0, 10, (64 * 16,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)

    class Timer(L.Callback, _Window):
        def on_train_batch_end(self, *a: Any) -> None:
            self.start()

        def on_train_end(self, *a: Any) -> None:
            self.stop()

    class BareHook(L.Callback):
        hook: Any = None

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.hook = smd.Hook(_trial_dir())
            self.hook.register_module(pl_module)
            self.hook.wrap_optimizer(innermost_optimizer(trainer.optimizers[0]))

    def fit(callbacks: list[Any], n: int) -> None:
        tr = L.Trainer(max_steps=n, callbacks=callbacks, logger=False, enable_checkpointing=False,
                       enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                       default_root_dir=_trial_dir() + "-pl", num_sanity_val_steps=0, limit_val_batches=0)  # fmt: skip
        tr.fit(model, loader)

    return Setup(
        "lightning mlp", steps, fit, Timer, BareHook, lambda: SmdbgCallback(_trial_dir()), model, L.Callback
    )


def setups(args: argparse.Namespace) -> list[Setup]:
    """The frameworks of ``--models`` (``hf``, ``lightning``; default both), set up quietly."""
    import logging
    import warnings

    torch.set_num_threads(getattr(args, "threads", 1))
    _CLOCK[0] = time.perf_counter if getattr(args, "clock", None) == "wall" else time.process_time
    _STAT[0] = getattr(args, "block_stat", None) or "mean"
    for name in ("lightning", "lightning.pytorch", "transformers", "smdbg"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    wanted = (args.models or "hf,lightning").split(",")
    unknown = set(wanted) - {"hf", "lightning"}
    if unknown:
        raise SystemExit(f"--models {args.models}: unknown {sorted(unknown)}; expected hf and/or lightning")
    out = []
    if "hf" in wanted:
        out.append(_hf_setup(args.steps))
    if "lightning" in wanted:
        out.append(_lightning_setup(args.steps))
    return out


def cases(args: argparse.Namespace) -> list[Case]:
    """The A/B rows of each framework of ``--models``."""
    return [row for s in setups(args) for row in _rows(s)]
