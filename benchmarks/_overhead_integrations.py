"""Training-framework integration cases of the hook-overhead benchmark
(``python benchmarks/hook_overhead.py --framework integrations``).

Each block is one ``Trainer.train()`` (Hugging Face, a small BERT from a config) or
``Trainer.fit()`` (Lightning, a small MLP module) of ``args.steps`` optimizer steps on one model
shared by every block; a timing callback, first in the list, times the training loop only
(``on_train_begin``/``on_train_start`` to ``on_train_end``), so the trainers' set-up and the
hook's close are outside the timed part. The sides compared, at the hook's defaults (losses,
every 500 steps):

* ``bare hook``: the hook as a script would add it by hand with a few lines in a callback of its
  own (``Hook``, ``register_module``, ``wrap_optimizer`` of the PyTorch optimizer);
* ``SmdbgCallback``: the integration's callback (modes, losses, logged values as scalars);
* ``no hook``: the trainer alone.

Rows: bare hook against bare hook (the noise of the run), the callback against the bare hook
(the integration's own cost: target <= 1%), the callback against no hook.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["cases", "cleanup"]

_TMP: list[str] = []


def _trial_dir() -> str:
    d = tempfile.mkdtemp(prefix="smdbg-bench-integ-")
    _TMP.append(d)
    return d + "/trial"


def cleanup() -> None:
    for d in _TMP:
        shutil.rmtree(d, ignore_errors=True)
    _TMP.clear()


def _hf_cases(steps: int) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
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

    class Timer(transformers.TrainerCallback):
        t0 = t1 = 0.0

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if not self.t0:  # from the end of the first step: the hook starts in that one
                self.t0 = time.perf_counter()

        def on_train_end(self, *a: Any, **k: Any) -> None:
            self.t1 = time.perf_counter()

    class BareHook(transformers.TrainerCallback):
        hook: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                           **k: Any) -> None:  # fmt: skip
            self.hook = smd.Hook(_trial_dir())
            self.hook.register_module(model)
            self.hook.wrap_optimizer(innermost_optimizer(optimizer))

    def run(make: Callable[[], Any] | None) -> Callable[[], float]:
        def block() -> float:
            timer = Timer()
            extra = make() if make else None
            args = transformers.TrainingArguments(
                output_dir=_trial_dir() + "-hf", max_steps=steps, per_device_train_batch_size=8, report_to=[],
                use_cpu=True, save_strategy="no", disable_tqdm=True, logging_steps=50, dataloader_num_workers=0,
            )  # fmt: skip
            tr = transformers.Trainer(model=model, args=args, train_dataset=data,
                                      callbacks=[timer] + ([extra] if extra else []))  # fmt: skip
            tr.train()
            if isinstance(extra, BareHook):
                extra.hook.close()
            return (timer.t1 - timer.t0) / (steps - 1)

        return block

    bare = run(BareHook)
    cb = run(lambda: SmdbgCallback(_trial_dir()))
    name = "hf bert 2x64"
    return [
        (name, "bare hook vs bare hook (noise)", bare, run(BareHook)),
        (name, "SmdbgCallback vs bare hook", bare, cb),
        (name, "SmdbgCallback vs no hook", run(None), cb),
    ]


def _lightning_cases(steps: int) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
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

    class Timer(L.Callback):
        t0 = t1 = 0.0

        def on_train_batch_end(self, *a: Any) -> None:
            if not self.t0:  # from the end of the first step: the hook starts in that one
                self.t0 = time.perf_counter()

        def on_train_end(self, *a: Any) -> None:
            self.t1 = time.perf_counter()

    class BareHook(L.Callback):
        hook: Any = None

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.hook = smd.Hook(_trial_dir())
            self.hook.register_module(pl_module)
            self.hook.wrap_optimizer(innermost_optimizer(trainer.optimizers[0]))

    def run(make: Callable[[], Any] | None) -> Callable[[], float]:
        def block() -> float:
            timer = Timer()
            extra = make() if make else None
            tr = L.Trainer(max_steps=steps, callbacks=[timer] + ([extra] if extra else []), logger=False,
                           enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                           accelerator="cpu", default_root_dir=_trial_dir() + "-pl", num_sanity_val_steps=0,
                           limit_val_batches=0)  # fmt: skip
            tr.fit(model, loader)
            if isinstance(extra, BareHook):
                extra.hook.close()
            return (timer.t1 - timer.t0) / (steps - 1)

        return block

    bare = run(BareHook)
    cb = run(lambda: SmdbgCallback(_trial_dir()))
    name = "lightning mlp"
    return [
        (name, "bare hook vs bare hook (noise)", bare, run(BareHook)),
        (name, "SmdbgCallback vs bare hook", bare, cb),
        (name, "SmdbgCallback vs no hook", run(None), cb),
    ]


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], float], Callable[[], float]]]:
    """The cases of ``--models`` (``hf``, ``lightning``; default both)."""
    import logging
    import warnings

    torch.set_num_threads(getattr(args, "threads", 1))
    for name in ("lightning", "lightning.pytorch", "transformers", "smdbg"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    wanted = (args.models or "hf,lightning").split(",")
    out = []
    if "hf" in wanted:
        out += _hf_cases(args.steps)
    if "lightning" in wanted:
        out += _lightning_cases(args.steps)
    return out
