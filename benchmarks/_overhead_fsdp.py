"""FSDP2 rows of the hook-overhead benchmark: run by ``hook_overhead.py --fsdp`` under
``torch.distributed.run`` (gloo, 2 ranks on the CPU, 1 thread each).

Every rank trains the benchmark's MLP sharded with ``fully_shard`` (each Linear and the root),
plain and hooked blocks interleaved in ABBA order as in ``hook_overhead.py``; each hooked block
attaches a fresh hook to the same model (20 warm-up steps, then the timed steps) and closes it
untimed. Rank 0 prints one JSON line: ``{"rows": [[model, config, plain s/step, hooked s/step,
median ratio], ...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from _overhead_configs import CONFIGS, HISTOGRAM_CONFIGS, hook_kwargs  # noqa: E402

FSDP_CONFIGS = {k: CONFIGS[k] for k in ("w+b+grads reductions every 10", "w+b+grads raw every 10")}
FSDP_CONFIGS.update(HISTOGRAM_CONFIGS)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    from torch.distributed.fsdp import fully_shard

    import smdbg.pytorch as smd

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))  # fmt: skip
    for layer in model:
        if isinstance(layer, nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)

    def run(steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        return (time.perf_counter() - t0) / steps

    def hooked(cfg: dict) -> float:
        out = tempfile.mkdtemp(prefix="smdbg-bench-fsdp-")
        hook = smd.Hook(out, flush_secs=0.25, **hook_kwargs(smd, cfg, extra_collections=("losses",)))
        hook.register_module(model)
        hook.register_loss(loss_fn)
        hook.wrap_optimizer(opt)
        try:
            run(20)
            return run(args.steps)
        finally:
            hook.close()
            shutil.rmtree(out, ignore_errors=True)

    run(20)
    rows = []
    for cname, cfg in FSDP_CONFIGS.items():
        pl, hk = [], []
        for i in range(args.repeats):  # ABBA: a steady drift cancels out
            if i % 2 == 0:
                pl.append(run(args.steps))
                hk.append(hooked(cfg))
            else:
                hk.append(hooked(cfg))
                pl.append(run(args.steps))
        ratio = statistics.median(b / a for a, b in zip(pl, hk))
        rows.append(["mlp FSDP2 2 ranks", cname, statistics.median(pl), statistics.median(hk), ratio])
        if dist.get_rank() == 0:
            print(f"  fsdp {cname:36s} x{ratio:.3f}", file=sys.stderr, flush=True)
    if dist.get_rank() == 0:
        print(json.dumps({"rows": rows}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
