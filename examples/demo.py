"""The README demo: a small MLP trained on synthetic data with the smdbg PyTorch hook, then the
trial read back through the trial API (and checked by built-in rules when they are available).

Run: ``python examples/demo.py [--out DIR] [--steps 300]``.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import torch
import torch.nn as nn

import smdbg.pytorch as smd


def train(out_dir: str, steps: int = 300, seed: int = 0) -> None:
    """Train a 20-64-64-3 MLP on a synthetic 3-class problem, saving losses every 10 steps and
    weight/gradient reductions every 25."""
    torch.manual_seed(seed)
    centers = torch.randn(3, 20) * 2
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=10),
                    include_collections=["losses", "weights", "gradients"])  # fmt: skip
    reductions = smd.ReductionConfig(reductions=["mean"], abs_reductions=["max", "mean"], norms=["l2"])
    for name in ("weights", "gradients"):
        coll = hook.get_collection(name)
        coll.save_config = smd.SaveConfig(save_interval=25)
        coll.reduction_config = reductions
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    with hook:
        for _ in range(steps):
            y = torch.randint(0, 3, (64,))
            x = centers[y] + torch.randn(64, 20)
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()


def summarize(trial: Any) -> None:
    print(f"trial at {trial.path}")
    print(f"  steps saved: {len(trial.steps())} (first {trial.steps()[0]}, last {trial.steps()[-1]})")
    print(f"  tensors: {len(trial.tensor_names())}, e.g. {', '.join(trial.tensor_names()[:4])}")
    steps, losses = trial.tensor("CrossEntropyLoss_output_0").history()
    print(f"  loss: {losses[0]:.4f} at step {steps[0]} -> {losses[-1]:.4f} at step {steps[-1]}")
    for name in ("Sequential_0.weight", "gradient/Sequential_0.weight"):
        t = trial.tensor(name)
        first, last = t.steps()[0], t.steps()[-1]
        print(f"  {name}: l2 {t.reduction_value(first, 'l2'):.4f} -> {t.reduction_value(last, 'l2'):.4f}, "
              f"abs max at step {last} {t.reduction_value(last, 'max', abs=True):.4g}")  # fmt: skip


def run_rules(trial: Any) -> None:
    """Evaluate a few built-in rules over the trial and print what they found."""
    try:
        from smdbg.rules import builtin_rule, invoke_rule
    except ImportError:
        return
    for name in ("exploding_tensor", "vanishing_gradient", "loss_not_decreasing"):
        try:
            findings = invoke_rule(builtin_rule(name, trial))
        except Exception as e:  # noqa: BLE001 - the demo reports and continues
            print(f"  rule {name}: could not run ({e})")
            continue
        print(f"  rule {name}: {'no findings' if not findings else f'{len(findings)} finding(s)'}")
        for f in findings[:3]:
            print(f"    step {f.step}: {f.message}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None, help="trial directory (default: a new temporary directory)")
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="smdbg-demo-")
    train(out, args.steps)
    trial = smd.create_trial(out)
    summarize(trial)
    run_rules(trial)


if __name__ == "__main__":
    main()
