"""Real trials for the studio's debugger tests: a tiny PyTorch model trained through ``smd.Hook``.

``write_trial`` trains in this process; ``live_writer.py`` (run as a subprocess) keeps saving
until told to stop, for the live-update tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.nn as nn

import smdbg.pytorch as smd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pytorch"))
from pytorch_testlib import Net  # noqa: E402  (the PyTorch tests' small model)

torch.set_num_threads(1)


def make_hook(out: str | os.PathLike[str]) -> smd.Hook:
    """Weights raw (histograms, heatmaps), gradients as reductions and raw, the loss every step."""
    hook = smd.Hook(out, save_config=smd.SaveConfig(save_interval=1), include_collections=["weights", "gradients", "losses"],
                    flush_secs=0.2)  # fmt: skip
    hook.get_collection("gradients").reduction_config = smd.ReductionConfig(
        reductions=["mean"], abs_reductions=["max"], norms=["l2"], save_raw_tensor=True
    )
    return hook


def train(hook: smd.Hook, steps: int, seed: int = 0, nan_step: int | None = None, extra: str | None = None) -> None:
    """``steps`` SGD steps; ``extra``: also save a tensor of that name (collection ``custom``, the
    step number as its value) before each step."""
    torch.manual_seed(seed)
    model = Net()
    loss_fn = nn.CrossEntropyLoss()
    opt = hook.wrap_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    hook.register_module(model)
    hook.register_loss(loss_fn)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    for step in range(steps):
        xb = x.clone()
        if step == nan_step:
            xb[0, 0] = float("nan")
        opt.zero_grad()
        loss = loss_fn(model(xb), y)
        if extra is not None:
            hook.save_tensor(extra, torch.full((3,), float(step)), "custom")
        loss.backward()
        opt.step()


def write_trial(out: str | os.PathLike[str], steps: int = 12, nan_step: int | None = None, extra: str | None = None) -> Path:
    hook = make_hook(out)
    train(hook, steps, nan_step=nan_step, extra=extra)
    hook.close()
    return Path(out)
