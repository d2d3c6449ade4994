"""Where a hooked step's time goes, by position in the 10-step save cycle.

One model, optimizer and batch are trained in blocks of 100 steps, plain blocks and hooked
blocks alternating (each hooked block gets a fresh hook saving weights, biases and gradients as
mean, abs max and l2 every 10 steps, plus the loss; set up, warmed for 20 steps and closed
outside the timing). Each step is split into host forward+loss, backward and
``optimizer.step()`` (the hook's saving work runs in its optimizer hooks; on CUDA the device is
synchronised after every step so that the split is meaningful). For every position in the cycle
(0 = the saved step) the table shows the plain median and the hooked excess, both against the
plain median at that position and against the hooked quiet positions (3-8) of the same blocks;
the second is immune to the drift between blocks that a 2-core VM shows.

    python benchmarks/step_profile.py                       # MLP on the CPU
    python benchmarks/step_profile.py --device cuda --model transformer
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
import torch.nn as nn  # noqa: E402
from _overhead_pytorch import build_model  # noqa: E402

Row = tuple[float, float, float]  # host forward+loss, backward, optimizer.step (seconds)
PARTS = ("forward+loss", "backward", "optimizer.step")


def trainer(name: str, device: str) -> tuple[Callable[[int], list[Row]], Callable[[int], list[Row]]]:
    """(plain block, hooked block) functions on one shared model."""
    import smdbg.pytorch as smd

    torch.manual_seed(0)
    model, data = build_model(name, device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    pc = time.perf_counter

    def plain(n: int) -> list[Row]:
        rows = []
        for _ in range(n):
            x, y = data()
            sync()
            t0 = pc()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            t1 = pc()
            loss.backward()
            t2 = pc()
            opt.step()
            sync()
            rows.append((t1 - t0, t2 - t1, pc() - t2))
        return rows

    def hooked(n: int) -> list[Row]:
        out = tempfile.mkdtemp(prefix="smdbg-profile-")
        rc = smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l2"])
        hook = smd.Hook(out, reduction_config=rc, include_collections=["weights", "biases", "gradients", "losses"],
                        save_config=smd.SaveConfig(save_interval=10))  # fmt: skip
        try:
            hook.register_module(model)
            hook.register_loss(loss_fn)
            hook.wrap_optimizer(opt)
            plain(20)  # warm-up: steps 0-19 of this hook; the timed block starts at a saved step
            return plain(n)
        finally:
            hook.close()
            shutil.rmtree(out, ignore_errors=True)

    plain(30)
    return plain, hooked


def by_position(blocks: list[list[Row]], part: int | None) -> list[float]:
    """Median microseconds at each position of the 10-step cycle (``part`` None: whole step)."""
    return [
        statistics.median((sum(b[i]) if part is None else b[i][part]) for b in blocks for i in range(p, len(b), 10)) * 1e6
        for p in range(10)
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", help="mlp, cnn, resnet18 or transformer")
    p.add_argument("--device", default="cpu")
    p.add_argument("--blocks", type=int, default=30, help="blocks of 100 steps per side")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    plain, hooked = trainer(args.model, args.device)
    runs: dict[str, list[list[Row]]] = {"plain": [], "hooked": []}
    for i in range(args.blocks):  # ABBA: a steady drift cancels
        order = ("plain", "hooked") if i % 2 == 0 else ("hooked", "plain")
        for k in order:
            runs[k].append(plain(100) if k == "plain" else hooked(100))
    print(f"\n{args.model} on {args.device}, {args.blocks} blocks of 100 steps per side, one shared model; "
          "median µs per step by position in the save cycle (0 = saved step)\n")  # fmt: skip
    print("| position | " + " | ".join(f"plain {n}" for n in PARTS) + " | "
          + " | ".join(f"hooked excess {n}" for n in PARTS) + " | hooked excess, step | excess within hooked blocks |")  # fmt: skip
    print("|---:|" + "---:|" * 8)
    plain_parts = [by_position(runs["plain"], i) for i in range(3)]
    hooked_parts = [by_position(runs["hooked"], i) for i in range(3)]
    plain_all, hooked_all = by_position(runs["plain"], None), by_position(runs["hooked"], None)
    quiet = statistics.median(hooked_all[3:9])
    for pos in range(10):
        cells = [f"{plain_parts[i][pos]:.0f}" for i in range(3)]
        cells += [f"{hooked_parts[i][pos] - plain_parts[i][pos]:+.0f}" for i in range(3)]
        cells += [f"{hooked_all[pos] - plain_all[pos]:+.0f}", f"{hooked_all[pos] - quiet:+.0f}"]
        print(f"| {pos} | " + " | ".join(cells) + " |")
    total = sum(h - quiet for h in hooked_all)
    plain_step = statistics.median(plain_all)
    print(f"\nwithin hooked blocks, the cycle's excess over its quiet steps: {total:+.0f} µs per 10 steps "
          f"({total / (10 * plain_step) * 100:+.1f}% of a {plain_step:.0f} µs plain step); quiet hooked step "
          f"{quiet - statistics.median(plain_all[3:9]):+.1f} µs against plain")  # fmt: skip


if __name__ == "__main__":
    main()
