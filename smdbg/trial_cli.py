"""``smdbg trial summary|tensor``: look into a trial from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO, Any

from smdbg._cli import CliError, choices_text, non_negative_int, positive_int, seconds

__all__ = ["register", "open_trial"]


def open_trial(path: str, wait: float, *, option: str = "--wait", stream: IO[str] | None = None) -> Any:
    """The trial at ``path``; if it is not there yet, say so at once on ``stream`` (stderr) with
    how long this waits, then wait up to ``wait`` seconds for it (``NoTrialFound`` after that)."""
    from smdbg.exceptions import NoTrialFound
    from smdbg.trials import create_trial

    try:
        return create_trial(path, timeout=0)
    except NoTrialFound:
        if wait <= 0:
            raise
    out = stream or sys.stderr
    print(
        f"smdbg: no trial at {path} yet; waiting up to {wait:g} s for training to create it "
        f"(check the path; {option} 0 does not wait)",
        file=out,
        flush=True,
    )
    started = time.monotonic()
    trial = create_trial(path, timeout=wait)
    print(f"smdbg: trial appeared after {time.monotonic() - started:.1f} s", file=out, flush=True)
    return trial


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("trial", help="inspect a trial (steps, tensors, rule statuses)")
    sub = p.add_subparsers(dest="trial_command", metavar="ACTION", required=True)
    s = sub.add_parser("summary", help="workers, steps, modes, tensors and rule statuses of a trial")
    s.add_argument("path", help="trial directory or URL (s3://...)")
    s.add_argument(
        "--timeout", type=seconds, default=5.0, help="seconds to wait for the trial to appear (default 5)"
    )
    s.add_argument("--list", type=non_negative_int, default=20, metavar="N",
                   help="tensors listed per worker in the save report's 'not saved' part (default 20)")  # fmt: skip
    s.set_defaults(func=_summary)
    t = sub.add_parser(
        "tensor",
        help="one tensor: what is stored, or the history of one reduction (or of its scalar values)",
        description="Without --reduction or --step: the tensor's values when they are scalars (losses, "
        "metrics), else what is stored of it (reductions, steps, shapes).",
    )
    t.add_argument("path", help="trial directory or URL (s3://...)")
    t.add_argument("name", help="tensor name (smdbg trial summary PATH lists them)")
    t.add_argument("--reduction", default=None, help="print the history of this reduction, e.g. abs_max")
    t.add_argument(
        "--step", type=non_negative_int, default=None, help="print the raw tensor saved at this step"
    )
    t.add_argument("--mode", default=None, type=str.upper, choices=("TRAIN", "EVAL", "PREDICT", "GLOBAL"),
                   help="count steps in this mode (default: global steps)")  # fmt: skip
    t.add_argument(
        "--timeout", type=seconds, default=5.0, help="seconds to wait for the trial to appear (default 5)"
    )
    t.set_defaults(func=_tensor)
    c = sub.add_parser("compact", help="merge a trial's small segments and write its manifests")
    c.add_argument("path", help="trial directory or URL; refused while a writer is alive")
    c.add_argument("--max-mb", type=positive_int, default=256, help="input megabytes per merged segment")
    c.add_argument(
        "--keep-raw-steps", type=non_negative_int, default=None, metavar="N",
        help="retention: drop raw tensors of steps older than the latest step - N (reductions and scalars stay)",
    )  # fmt: skip
    c.set_defaults(func=_compact)


def _compact(args: argparse.Namespace) -> int:
    from smdbg.store.compact import compact_trial

    open_trial(args.path, 0)  # a missing or mistyped path: one line, at once
    for r in compact_trial(args.path, max_bytes=args.max_mb << 20, keep_raw_steps=args.keep_raw_steps):
        print(f"{r.worker}: {r.segments_before} -> {r.segments_after} segments ({r.merged} merged)")
        if args.keep_raw_steps is not None:
            print(f"  retention: {r.dropped_raw} raw tensors dropped, {r.thinned} segments rewritten")
        for path, reason in r.skipped.items():
            print(f"  left as it is: {path}: {reason}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    trial = open_trial(args.path, args.timeout, option="--timeout")
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
    for report in trial.save_reports().values():
        print("\n".join(report.lines(limit=args.list)))
    return 0


def _tensor_of(trial: Any, name: str) -> Any:
    if not trial.has_tensor(name):
        raise CliError(
            f"tensor {name!r} is not in the trial at {trial.path}: expected one of "
            f"{choices_text(trial.tensor_names())} (smdbg trial summary {trial.path} lists them all)"
        )
    return trial.tensor(name)


def _tensor(args: argparse.Namespace) -> int:
    trial = open_trial(args.path, args.timeout, option="--timeout")
    tensor = _tensor_of(trial, args.name)
    stored = tensor.reductions()
    if args.step is not None:
        return _print_value(tensor, args.step, args.mode)
    if args.reduction is not None:
        if args.reduction not in stored and "raw" not in stored:
            raise CliError(
                f"--reduction {args.reduction!r}: tensor {args.name!r} has no such reduction and no raw "
                f"values to compute it from; expected one of {choices_text(stored)}"
            )
        return _print_history(tensor, args.reduction, args.mode)
    if "raw" in stored and _is_scalar(tensor):
        return _print_history(tensor, None, args.mode)
    _describe(trial, tensor, args.mode)
    return 0


def _print_history(tensor: Any, reduction: str | None, mode: str | None) -> int:
    steps, values = tensor.history(reduction, mode=mode)
    if not len(steps):
        modes = sorted(
            set(tensor.history_rows(None if reduction in (None, "raw") else reduction)["mode"].tolist())
        )
        raise CliError(
            f"tensor {tensor.name!r} has no {reduction or 'scalar'} values"
            + (
                f" in mode {mode}: expected one of the modes it was saved in, {choices_text(modes)}"
                if mode
                else ""
            )
        )
    for step, value in zip(steps.tolist(), values.tolist()):
        print(f"{step}\t{value:.6g}")
    return 0


def _print_value(tensor: Any, step: int, mode: str | None) -> int:
    import numpy as np

    from smdbg.exceptions import SmdbgError

    stored = tensor.reductions()
    if "raw" not in stored:
        raise CliError(
            f"--step {step}: only reductions of {tensor.name!r} were saved, no whole tensors; "
            f"print one with --reduction, one of {choices_text(stored)}"
        )
    try:
        value = tensor.value(step, mode=mode)
    except (SmdbgError, LookupError) as e:
        steps = tensor.steps(mode=mode, show_incomplete_steps=True)
        raise CliError(
            f"--step {step}: {e}; steps of {tensor.name!r}: {choices_text(map(str, steps))}"
        ) from None
    with np.printoptions(threshold=200, edgeitems=3, precision=6):
        print(f"{tensor.name} at step {step}: {value.dtype} {tuple(value.shape)}")
        print(value)
    return 0


def _is_scalar(tensor: Any) -> bool:
    steps = tensor.steps(show_incomplete_steps=True)
    if not steps:
        return False
    try:
        return tensor.shape(steps[0]) in ((), (1,))
    except LookupError:
        return False


def _describe(trial: Any, tensor: Any, mode: str | None) -> None:
    """What is stored of a tensor: per reduction key, its steps; raw tensors' shapes."""
    steps = tensor.steps(mode=mode, show_incomplete_steps=True)
    span = f" ({steps[0]}..{steps[-1]})" if steps else ""
    print(f"tensor {tensor.name} in {trial.path}")
    print(f"  collections  {', '.join(sorted(tensor.collections())) or '-'}")
    print(f"  steps        {len(steps)} saved{span}" + (f" in mode {mode}" if mode else ""))
    for key in tensor.reductions():
        rows = tensor.history_rows(None if key == "raw" else key)
        modes = ", ".join(sorted(set(rows["mode"].tolist())))
        if key == "raw":
            first, last = int(rows["step"][0]), int(rows["step"][-1])
            shapes = sorted({_shape(tensor, first), _shape(tensor, last)})
            what = f"whole tensors, shape {' / '.join(shapes)}"
        else:
            what = f"last value {float(rows['value'][-1]):.6g}"
        print(f"  {key:<12} {len(rows['step'])} values at steps {int(rows['step'][0])}..{int(rows['step'][-1])} "
              f"({modes}); {what}")  # fmt: skip
    keys = [k for k in tensor.reductions() if k != "raw"]
    hint = f"--reduction {keys[0]}" if keys else f"--step {steps[-1]}" if steps else ""
    if hint:
        print(f"print one with: smdbg trial tensor {trial.path} {tensor.name} {hint}")


def _shape(tensor: Any, step: int) -> str:
    try:
        return str(tuple(tensor.shape(step)))
    except LookupError:
        return "?"
