"""Run by torch.distributed.run in test_pytorch_fsdp.py (gloo, 2 ranks on the CPU).

Every rank trains the same small MLP, sharded with FSDP2's ``fully_shard``, on the same batches
(so that FSDP's averaged gradients equal one batch's gradients); rank 0 also trains an unsharded
copy of it with its own hook. A frozen parameter that is a DTensor with a ``Partial`` placement
must be reported and skipped, without disturbing training.
"""

from __future__ import annotations

import copy
import json
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor

import smdbg.pytorch as smd

sharded_out, plain_out, report = sys.argv[1], sys.argv[2], sys.argv[3]
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 5)  # 5 rows over 2 ranks: uneven shards (3 + 2)
        self.fc2 = nn.Linear(5, 1)  # 1 row: rank 1's shards are empty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def config() -> dict:
    rc = smd.ReductionConfig(
        reductions=["mean", "max", "min", "std", "variance", "sum", "prod"], abs_reductions=["max", "min", "mean"],
        norms=["l1", "l2"], histogram=8, save_raw_tensor=True,
    )  # fmt: skip
    return {"save_config": smd.SaveConfig(save_interval=1), "reduction_config": rc,
            "include_collections": ["weights", "biases", "gradients", "losses"]}  # fmt: skip


plain = MLP()
sharded = copy.deepcopy(plain)
fully_shard(sharded.fc1)
fully_shard(sharded.fc2)
fully_shard(sharded)
mesh = sharded.fc1.weight.device_mesh
# A frozen parameter holding partial sums: no shard of a tensor, to be reported, not saved
sharded.register_parameter("partial", nn.Parameter(DTensor.from_local(torch.ones(3), mesh, [Partial()]), requires_grad=False))
# A frozen parameter on a 2-D mesh (1 x 2: replicated over the first dimension, sharded over the
# second): reduced over the sharded dimension's group only
mesh2d = init_device_mesh("cpu", (1, 2))
grid = torch.arange(12.0).reshape(4, 3) - 5
sharded.register_parameter("grid", nn.Parameter(distribute_tensor(grid, mesh2d, [Replicate(), Shard(0)]), requires_grad=False))

hook = smd.Hook(sharded_out, include_workers="all", **config())
hook.register_module(sharded)
opt = hook.wrap_optimizer(torch.optim.SGD(sharded.parameters(), lr=0.1))
loss_fn = nn.MSELoss()
hook.register_loss(loss_fn)
# A second hook on the same model that writes rank 0 only: rank 1 still takes part in the
# all-reduces (else rank 0 would wait for it forever)
one = smd.Hook(sharded_out + "-one", include_workers="one", **config())
one.register_module(sharded)
one.wrap_optimizer(opt)
if rank == 0:
    ref = smd.Hook(plain_out, **config())
    ref.register_module(plain)
    ref_opt = ref.wrap_optimizer(torch.optim.SGD(plain.parameters(), lr=0.1))
    ref.register_loss(loss_fn)

losses = []
for step in range(3):
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(8, 6, generator=g), torch.randn(8, 1, generator=g)
    opt.zero_grad()
    loss = loss_fn(sharded(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if rank == 0:
        ref_opt.zero_grad()
        loss_fn(plain(x), y).backward()
        ref_opt.step()
try:  # a script's own save of a DTensor: a clear error, nothing gathered behind its back
    hook.save_tensor("dt", sharded.fc1.weight)
    save_error = ""
except TypeError as e:
    save_error = str(e)
hook.close()
one.close()
if rank == 0:
    ref.close()
    with open(report, "w") as f:
        json.dump({"losses": losses, "errors": hook.error_count, "save_error": save_error}, f)
dist.barrier()
dist.destroy_process_group()
