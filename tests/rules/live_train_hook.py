"""A real (tiny) PyTorch training run through ``smd.Hook`` for the live rule test: the hook saves
what ``Rule.builtin(rule_configs.exploding_tensor(), ...)`` asks for (loss, gradient reductions)
at every step; step ``nan_step`` gets a NaN input. A following rule job's stop_training action
ends it with StopTrainingRequested (raised by the hook at a step boundary) and a closed trial.

usage: live_train_hook.py OUT_DIR NAN_STEP MAX_STEPS SLEEP
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn as nn
from _training import Net, hook_for, regression, spec

from smdbg.config import CollectionConfig


def main() -> None:
    out, nan_step, max_steps, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.manual_seed(0)
    rule = spec("exploding_tensor", collections=[CollectionConfig("losses"),
                                                 CollectionConfig("gradients", {"reductions": "abs_mean,abs_max"})])  # fmt: skip
    hook = hook_for(out, rule, stop_check_secs=0.05)
    model = Net([8, 16, 1])
    loss_fn = nn.MSELoss()
    opt = hook.wrap_optimizer(torch.optim.SGD(model.parameters(), lr=0.01))
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.set_mode("train")
    x, y = regression(64, 1)
    stepped: dict[int, float] = {}
    deadline = time.monotonic() + 150  # bounded even if no rule job ever stops it
    try:
        for step in range(max_steps):
            if time.monotonic() > deadline:
                break
            xb = x.clone()
            if step == nan_step:
                xb[0, 0] = float("nan")
            opt.zero_grad()
            loss_fn(model(xb), y).backward()
            stepped[step] = time.time()
            opt.step()  # the hook checks for a stop request here
            time.sleep(pause)
        hook.close()
    finally:
        print(json.dumps({"stepped": stepped}), flush=True)


if __name__ == "__main__":
    main()
