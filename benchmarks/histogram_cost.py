"""What a saved step's histograms cost against its reductions, without the training around it.

    python benchmarks/histogram_cost.py [--models mlp,cnn] [--device cpu] [--repeats 200] [--bins 64]

For each model of ``hook_overhead.py``, the capture of all its weights and gradients (random
gradients of the weights' shapes) is timed as the hook runs it on a saved step (reduce, then hand
the values over): with the reductions row's keys (mean, abs_max, l2), with ``histogram=bins``
alone, and with both. Prints the best of ``--repeats`` captures (the machine's noise only adds)
and the ratio to the reductions. ``hook_overhead.py``'s ``histogram(64)`` row measures the
same inside training, where it is diluted by the unsaved steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--bins", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch
    from _overhead_pytorch import build_model

    from smdbg.hooks._plan import TensorPlan
    from smdbg.hooks.torch._capture import StepCapture

    torch.set_num_threads(args.threads)
    keys = ("mean", "abs_max", "l2")
    plans = {
        "reductions (mean, abs_max, l2)": TensorPlan(("weights",), keys, False, False),
        f"histogram({args.bins})": TensorPlan(("weights",), (), False, False, (args.bins, "minmax")),
        "both": TensorPlan(("weights",), keys, False, False, (args.bins, "minmax")),
    }
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"device {args.device}, best of {args.repeats} captures of all weights and gradients\n")
    print("| model | tensors | values | what | us per saved step | x reductions |")
    print("|---|---:|---:|---|---:|---:|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model, _ = build_model(name, args.device)
        ts = [q.detach() for q in model.parameters()]
        ts += [torch.randn_like(t) for t in ts]
        items = [(f"t{i}", None, t) for i, t in enumerate(ts)]
        base = None
        for what, plan in plans.items():
            best = float("inf")
            for _ in range(args.repeats):
                cap = StepCapture()
                sync()
                t0 = time.perf_counter()
                cap.add([(n, plan, t) for n, _, t in items])
                pending = cap.finish((0, "TRAIN", 0))
                pending.wait()
                list(pending.items())
                best = min(best, time.perf_counter() - t0)
            base = base or best
            values = sum(t.numel() for t in ts)
            print(f"| {name} | {len(ts)} | {values:,} | {what} | {best * 1e6:.0f} | x{best / base:.1f} |")


if __name__ == "__main__":
    main()
