"""``smdbg trial ...``: look into a trial from the command line."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("trial", help="inspect a trial (steps, tensors, rule statuses)")
    sub = p.add_subparsers(dest="trial_command", metavar="ACTION", required=True)
    s = sub.add_parser("summary", help="workers, steps, modes, tensors and rule statuses of a trial")
    s.add_argument("path", help="trial directory or URL (s3://...)")
    s.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the trial to appear")
    s.set_defaults(func=_summary)
    t = sub.add_parser("tensor", help="the history of one tensor's reduction (or scalar values)")
    t.add_argument("path")
    t.add_argument("name")
    t.add_argument(
        "--reduction", default=None, help="stored reduction key, e.g. abs_max (default: raw scalars)"
    )
    t.add_argument("--mode", default=None)
    t.set_defaults(func=_tensor)
    c = sub.add_parser("compact", help="merge a trial's small segments and write its manifests")
    c.add_argument("path", help="trial directory or URL; refused while a writer is alive")
    c.add_argument("--max-mb", type=int, default=256, help="input megabytes per merged segment")
    c.set_defaults(func=_compact)


def _compact(args: argparse.Namespace) -> int:
    from smdbg.store.compact import compact_trial

    for r in compact_trial(args.path, max_bytes=args.max_mb << 20):
        print(f"{r.worker}: {r.segments_before} -> {r.segments_after} segments ({r.merged} merged)")
        for path, reason in r.skipped.items():
            print(f"  left as it is: {path}: {reason}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from smdbg.trials import create_trial

    trial = create_trial(args.path, timeout=args.timeout)
    steps = trial.steps(show_incomplete_steps=True)
    print(f"trial      {trial.path}")
    print(f"framework  {trial.metadata.get('framework', '?')}")
    print(f"workers    {', '.join(trial.workers()) or '-'}")
    print(f"modes      {', '.join(m.name for m in trial.modes()) or '-'}")
    print(f"steps      {len(steps)} saved" + (f", {steps[0]}..{steps[-1]}" if steps else ""))
    print(f"ended      {'yes' if trial.training_has_ended() else 'no (training is running or crashed)'}")
    for path, reason in trial.corrupt_segments.items():
        print(f"CORRUPT    {path}: {reason}")
    print("tensors:")
    for name in trial.tensor_names():
        tensor = trial.tensor(name)
        print(
            f"  {name:<48} {len(tensor.steps(show_incomplete_steps=True)):>7} steps  {', '.join(tensor.reductions())}"
        )
    for rule, status in trial.rule_statuses().items():
        print(f"rule {rule}: {status.get('status')} {status.get('reason') or ''}".rstrip())
    return 0


def _tensor(args: argparse.Namespace) -> int:
    from smdbg.trials import create_trial

    trial = create_trial(args.path, timeout=5)
    steps, values = trial.tensor(args.name).history(args.reduction, mode=args.mode)
    for step, value in zip(steps.tolist(), values.tolist()):
        print(f"{step}\t{value:.6g}")
    return 0
