"""Run by torchrun in test_pytorch_distributed.py: each rank trains with the hook (gloo)."""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn

import smdbg.pytorch as smd

out, release, out_one = sys.argv[1], sys.argv[2], sys.argv[3]
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(rank)
model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
hooks = []
for path, workers in ((out, "all"), (out_one, "one")):  # two independent hooks on the same model
    hook = smd.Hook(path, include_workers=workers, save_config=smd.SaveConfig(save_interval=1),
                    include_collections=["weights", "losses"], flush_secs=0.05)  # fmt: skip
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    hooks.append(hook)


def step() -> None:
    opt.zero_grad()
    x = torch.randn(8, 4)
    loss_fn(model(x), x.sum(1, keepdim=True)).backward()
    opt.step()


for _ in range(3):
    step()
if rank == 1:  # the slow worker waits until the test has looked at the trial
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
for _ in range(3):
    step()
for hook in hooks:
    hook.close()
dist.barrier()
dist.destroy_process_group()
