"""How much of the hook's cost on a CPU is the reductions themselves.

Trains the benchmark MLP (784-256-256-10, batch 64, one torch thread) four ways, interleaved in
100-step blocks of one shared model (each variant's hooks attached for its block only, set up
and warmed outside the timing, the order rotating from block to block), and prints each one's
median overhead against plain training (median of the paired block ratios, as
``hook_overhead.py``):

* ``kernels only``: no smdbg; an optimizer pre-step hook computes mean, abs max and l2 of every
  weight and gradient every 10 steps with smdbg's CPU kernels (``cpu_reductions``) and drops
  them — the floor any hook computing those values on the training thread pays;
* ``smdbg dry_run``: the hook with the same configuration and ``dry_run=True`` (step counting,
  planning, callbacks; nothing captured);
* ``smdbg``: the hook saving those reductions (and the loss) every 10 steps.

    python benchmarks/reduction_floor.py [--blocks 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402
from _overhead_pytorch import build_model  # noqa: E402

KEYS = ("mean", "abs_max", "l2")


def trainer() -> Callable[[str, int], float]:
    """``run(variant, steps)``: seconds per step of one block of a variant, on one shared model
    (each variant's hook or optimizer hook is attached for its block only, outside the timing)."""
    import smdbg.pytorch as smd
    from smdbg.hooks.torch._cpu import cpu_reductions

    torch.manual_seed(0)
    model, data = build_model("mlp", "cpu")
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    params = list(model.parameters())
    x, y = data()
    state = {"step": 0}

    def steps(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
            state["step"] += 1
        return (time.perf_counter() - t0) / n

    def pre(*_: object) -> None:
        if state["step"] % 10 == 0:
            with torch.no_grad():
                for p in params:
                    cpu_reductions(p, KEYS)
                    cpu_reductions(p.grad, KEYS)

    def run(kind: str, n: int) -> float:
        if kind == "plain":
            steps(20)
            return steps(n)
        if kind == "kernels only":
            handle = opt.register_step_pre_hook(pre)
            try:
                state["step"] = 0
                steps(20)
                return steps(n)
            finally:
                handle.remove()
        out = tempfile.mkdtemp(prefix="smdbg-floor-")
        hook = smd.Hook(out, reduction_config=smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"]),
                        include_collections=["weights", "biases", "gradients", "losses"],
                        save_config=smd.SaveConfig(save_interval=10), dry_run=kind == "smdbg dry_run",
                        flush_secs=0.25)  # fmt: skip
        try:
            hook.register_module(model)
            hook.register_loss(loss_fn)
            hook.wrap_optimizer(opt)
            steps(20)
            return steps(n)
        finally:
            hook.close()
            shutil.rmtree(out, ignore_errors=True)

    steps(50)
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    kinds = ["plain", "kernels only", "smdbg dry_run", "smdbg"]
    run = trainer()
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(args.blocks):  # the order rotates from block to block: drift cancels
        for k in kinds[i % 4 :] + kinds[: i % 4]:
            times[k].append(run(k, args.steps))
    print(f"\nMLP on CPU, 1 thread, {args.blocks} interleaved blocks of {args.steps} steps; mean/abs max/l2 of weights and gradients every 10 steps\n")
    print("| variant | ms/step (median) | overhead (median of paired ratios) |")
    print("|---|---:|---:|")
    for k in kinds:
        ratio = statistics.median(b / a for a, b in zip(times["plain"], times[k]))
        print(f"| {k} | {statistics.median(times[k]) * 1e3:.3f} | {(ratio - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
