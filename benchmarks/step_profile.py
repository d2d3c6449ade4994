"""Where a hooked step's time goes: host time of forward+backward and of ``optimizer.step()``
(the hook's saving work runs in its step hooks) and the synchronised step time, for saved and
unsaved steps, plain against hooked (the two trained in interleaved 10-step blocks) (weights, biases, gradients: mean, abs max, l2 every 10).

    python benchmarks/step_profile.py --device cuda --model transformer
    python benchmarks/step_profile.py --model mlp           # CPU

A model whose host time is close to its synchronised step time is host-bound: the GPU waits for
Python, and the hook's host work on a saved step shows up one for one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from _overhead_pytorch import build_model  # noqa: E402

Row = tuple[bool, float, float, float]


def trainer(name: str, device: str, hooked: bool) -> Callable[[int, int], list[Row]]:
    """A model (plain or hooked) and a function that trains ``n`` steps from step ``start``,
    returning (saved?, host fwd+bwd, host optimizer.step, synchronised step) per step."""
    import smdbg.pytorch as smd

    torch.manual_seed(0)
    model, data = build_model(name, device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if hooked:
        rc = smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"])
        hook = smd.Hook(tempfile.mkdtemp(prefix="smdbg-profile-"), reduction_config=rc,
                        include_collections=["weights", "biases", "gradients", "losses"],
                        save_config=smd.SaveConfig(save_interval=10))  # fmt: skip
        hook.register_module(model)
        hook.register_loss(loss_fn)
        hook.wrap_optimizer(opt)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run(start: int, n: int) -> list[Row]:
        rows = []
        for i in range(start, start + n):
            x, y = data()
            sync()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            t1 = time.perf_counter()
            opt.step()
            t2 = time.perf_counter()
            sync()
            t3 = time.perf_counter()
            rows.append((i % 10 == 0, t1 - t0, t2 - t1, t3 - t0))
        return rows

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", help="mlp, cnn, resnet18 or transformer")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{args.model} on {args.device}, plain and hooked interleaved in 10-step blocks, median over {args.steps} steps each (ms)\n"
    )
    print("| run | steps | host fwd+bwd | host optimizer.step | synchronised step |")
    print("|---|---|---:|---:|---:|")
    runs = {
        "plain": trainer(args.model, args.device, False),
        "hooked": trainer(args.model, args.device, True),
    }
    rows: dict[str, list[Row]] = {k: [] for k in runs}
    for run in runs.values():
        run(0, 20)  # warm-up
    for start in range(20, 20 + args.steps, 10):  # interleaved blocks of 10 steps, one saved each
        for k, run in runs.items():
            rows[k] += run(start, 10)
    for k in runs:
        for saved in (True, False):
            r = [x for x in rows[k] if x[0] == saved]
            cells = " | ".join(f"{statistics.median(x[i] for x in r) * 1e3:.3f}" for i in (1, 2, 3))
            print(f"| {k} | {'saved' if saved else 'unsaved'} | {cells} |")


if __name__ == "__main__":
    main()
