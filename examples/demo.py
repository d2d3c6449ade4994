"""The README demo: train a small MLP on synthetic data with the smdbg PyTorch hook, read the trial
back through the trial API, and run built-in rules over it.

The same training runs twice: once well configured (SGD, learning rate 0.02) and once with a
learning rate 100x too high (2.0), whose loss explodes to NaN and whose ReLUs die. The rules find
that in the second run and stay quiet on the first.

Run: ``python examples/demo.py [--out DIR] [--steps 100]``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from collections import OrderedDict
from typing import Any

import torch
import torch.nn as nn

import smdbg.pytorch as smd
from smdbg.rules import RuleJob, RuleJobResult, builtin_rule

RULES = ("loss_not_decreasing", "vanishing_gradient", "exploding_tensor", "overfit", "dead_relu")
RUNS = {"healthy": 0.02, "lr_too_high": 2.0}  # run name -> learning rate


def make_model() -> nn.Sequential:
    """A 20-64-64-3 MLP. Tensor names follow smdebug: ``Sequential_0.weight``,
    ``gradient/Sequential_0.weight``; the ReLUs are named so their outputs are ``relu1_output_0``
    ... (what the dead_relu rule looks for)."""
    return nn.Sequential(OrderedDict([
        ("0", nn.Linear(20, 64)), ("relu1", nn.ReLU()),
        ("2", nn.Linear(64, 64)), ("relu2", nn.ReLU()),
        ("4", nn.Linear(64, 3)),
    ]))  # fmt: skip


def train(out_dir: str, steps: int = 300, seed: int = 0, lr: float = 0.02, eval_every: int = 0) -> None:
    """Train the MLP on a synthetic 3-class problem with SGD, saving losses every 10 steps, and
    weight/gradient reductions every 25 and raw ReLU outputs every 10. With ``eval_every``, evaluate on a
    validation set (EVAL mode) every ``eval_every`` training steps."""
    torch.manual_seed(seed)
    centers = torch.randn(3, 20) * 2
    model = make_model()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    hook = smd.Hook(out_dir, save_config=smd.SaveConfig(save_interval=10),
                    include_collections=["losses", "weights", "gradients"])  # fmt: skip
    reductions = smd.ReductionConfig(reductions=("mean",), abs_reductions=("max", "mean"), norms=("l2",))
    for name in ("weights", "gradients"):
        coll = hook.get_collection(name)
        coll.save_config = smd.SaveConfig(save_interval=25)
        coll.reduction_config = reductions
    relu = {"include_regex": r"relu\d+_output_0", "save_interval": "10"}  # raw, for dead_relu
    hook.add_collection(smd.CollectionConfig("relu_output", relu))
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    g = torch.Generator().manual_seed(seed + 1)
    val_y = torch.randint(0, 3, (256,), generator=g)
    val_x = centers[val_y] + torch.randn(256, 20, generator=g)
    with hook:
        hook.set_mode(smd.modes.TRAIN)
        for step in range(steps):
            y = torch.randint(0, 3, (64,))
            x = centers[y] + torch.randn(64, 20)
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            if eval_every and (step + 1) % eval_every == 0:
                hook.set_mode(smd.modes.EVAL)
                with torch.no_grad():
                    for i in range(0, len(val_x), 64):
                        loss_fn(model(val_x[i : i + 64]), val_y[i : i + 64])
                hook.set_mode(smd.modes.TRAIN)


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


def run_rules(trial: Any, rules: tuple[str, ...] = RULES) -> dict[str, RuleJobResult]:
    """Run each built-in rule over the finished trial as a rule job (its status and findings are
    also stored in the trial, under rules/<name>/)."""
    return {name: RuleJob(builtin_rule(name, trial)).run() for name in rules}


def print_rules(results: dict[str, dict[str, RuleJobResult]]) -> None:
    """A table of statuses (rules x runs), then the first findings of each run."""
    runs = list(results)
    print(f"\n{'rule':<22}" + "".join(f"{r:<26}" for r in runs))
    for name in RULES:
        cells = []
        for run in runs:
            res = results[run][name]
            cells.append(f"{res.status}" + (f" ({res.findings_count})" if res.findings_count else ""))
        print(f"{name:<22}" + "".join(f"{c:<26}" for c in cells))
    for run in runs:
        found = [(name, f) for name, res in results[run].items() for f in res.findings[:2]]
        errors = [(name, res.reason) for name, res in results[run].items() if str(res.status) == "Error"]
        if found or errors:
            print(f"\nfindings in {run}:")
        for name, f in found:
            print(f"  {name:<20} step {f.step:<4} {f.message}")
        for name, reason in errors:
            print(f"  {name:<20} error: {reason}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--out", default=None, help="directory for the trials (default: a new temporary directory)"
    )
    p.add_argument("--steps", type=int, default=100, help="training steps per run")
    args = p.parse_args()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, also on a busy machine
    out = args.out or tempfile.mkdtemp(prefix="smdbg-demo-")
    results: dict[str, dict[str, RuleJobResult]] = {}
    for run, lr in RUNS.items():
        path = os.path.join(out, run)
        print(f"== {run}: SGD with learning rate {lr}, {args.steps} steps, saving to {path}")
        train(path, args.steps, lr=lr, eval_every=25)
        trial = smd.create_trial(path)
        summarize(trial)
        results[run] = run_rules(trial)
    print_rules(results)
    print(f"\nrule statuses are stored in each trial, e.g. {os.path.join(out, 'healthy', 'rules')}")
    smdbg, where = smdbg_command()
    bad = shlex.quote(os.path.join(out, "lr_too_high"))
    print(f"the same from the command line ({where}):")
    for args in (
        f"trial summary {bad}",
        f"rule run {bad} --rule exploding_tensor",
        "rule describe dead_relu",
    ):
        print(f"  {smdbg} {args}")


def smdbg_command() -> tuple[str, str]:
    """How to call the ``smdbg`` command of this Python, as one can type it in any shell, and a
    note on how to shorten it: the full path of the environment's ``smdbg`` script (not on PATH
    unless the environment is activated), else ``python -m smdbg.cli``."""
    bindir = os.path.dirname(sys.executable)
    script = os.path.join(bindir, "smdbg")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        activate = os.path.join(bindir, "activate")
        note = (
            f"after `source {shlex.quote(activate)}`, plain `smdbg` works" if os.path.isfile(activate) else ""
        )
        return shlex.quote(script), note or "the smdbg command of this Python"
    return f"{shlex.quote(sys.executable)} -m smdbg.cli", "smdbg's command line through this Python"


if __name__ == "__main__":
    main()
