"""Keeps training a tiny PyTorch model through ``smd.Hook`` (saving every step) until the file
STOP appears or MAX_SECONDS pass; prints ``step <n> <unix time>`` after each optimizer step, so
a test or the benchmark knows when each step was handed to the hook.

usage: _live_writer.py OUT_DIR STOP_FILE PAUSE_S MAX_SECONDS
"""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _studio_trials import Net, make_hook  # noqa: E402


def main() -> None:
    out, stop, pause, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    torch.manual_seed(0)
    hook = make_hook(out)
    model = Net()
    loss_fn = nn.CrossEntropyLoss()
    opt = hook.wrap_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    hook.register_module(model)
    hook.register_loss(loss_fn)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    deadline = time.monotonic() + limit
    step = 0
    while not os.path.exists(stop) and time.monotonic() < deadline:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        print(f"step {step} {time.time():.4f}", flush=True)
        step += 1
        time.sleep(pause)
    hook.close()


if __name__ == "__main__":
    main()
