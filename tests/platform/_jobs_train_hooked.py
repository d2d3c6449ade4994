"""A training script for the debugger job tests: one PyTorch hook from $SMDBG_CONFIG_FILE_PATH, gloo when WORLD_SIZE > 1, NaN input at --nan-at."""

import argparse
import os

import torch
import torch.distributed as dist

import smdbg.pytorch as smd

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=8)
p.add_argument("--nan-at", type=int, default=-1)
a = p.parse_args()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    dist.init_process_group("gloo")
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = torch.nn.MSELoss()
hook = smd.get_hook(create_if_not_exists=True)
if hook is not None:
    hook.register_module(model)
    hook.register_loss(loss_fn)
    opt = hook.wrap_optimizer(opt)
for step in range(a.steps):
    x = torch.randn(8, 4)
    if step == a.nan_at:
        x[0, 0] = float("nan")
    loss = loss_fn(model(x), torch.zeros(8, 1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(f"step={step} loss={loss.item():.4f}", flush=True)
if hook is not None:
    hook.close()
