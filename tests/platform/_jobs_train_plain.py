"""An unmodified PyTorch training script for the launcher job tests: no smdbg import at all.

gloo + DistributedDataParallel when WORLD_SIZE > 1 (each rank reads its own batches), a NaN input
at --nan-at, --sleep seconds after each step; prints each step's loss.
"""

import argparse
import os
import time

import torch
import torch.distributed as dist

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=8)
p.add_argument("--nan-at", type=int, default=-1)
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
rank = 0
if distributed:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
torch.manual_seed(0)
model: torch.nn.Module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
if distributed:
    model = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = torch.nn.MSELoss()
data = torch.Generator().manual_seed(100 + rank)
for step in range(a.steps):
    x = torch.randn(8, 4, generator=data)
    if step == a.nan_at:
        x[0, 0] = float("nan")
    loss = loss_fn(model(x), torch.zeros(8, 1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(f"step={step} loss={loss.item():.6f}", flush=True)
    time.sleep(a.sleep)
if distributed:
    dist.destroy_process_group()
