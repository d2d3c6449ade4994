"""``smdbg run [--out DIR] [--collections ...] [--save-interval N] [--reductions ...] train.py ARGS...``:
instrument an unmodified PyTorch training script.

Without options the hook saves the losses every 500 steps (smdebug's defaults). Choose more on
the command line, e.g. what the built-in rules need::

    smdbg run --out runs/exp2 --collections weights,gradients,losses --save-interval 10 \\
        --reductions mean,abs_mean,abs_max,l2 train.py --epochs 3

or give a smdebug-style JSON hook config (``--config hook.json``); options given here override it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from smdbg._cli import positive_int, subcommand_main

__all__ = ["register", "main", "hook_options"]


def _collections(text: str) -> list[str]:
    from smdbg.collections import BUILTIN_COLLECTIONS

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected collection names, e.g. weights,gradients,losses"
        )
    unknown = [n for n in names if n not in BUILTIN_COLLECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown collection {unknown[0]!r}: expected some of {', '.join(BUILTIN_COLLECTIONS)} "
            "(custom collections: define them in a --config file)"
        )
    return names


def _reductions(text: str) -> Any:
    from smdbg.config import ReductionConfig

    try:
        config = ReductionConfig.from_tokens(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not config.keys:
        raise argparse.ArgumentTypeError(f"{text!r}: expected reductions, e.g. mean,abs_mean,abs_max,l2")
    return config


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="smdebug-style JSON hook config (default: $SMDBG_CONFIG_FILE_PATH)")
    p.add_argument("--out", help="trial directory (overrides the config's LocalPath; default: "
                                 "smdbg-trials/<script>-<time>)")  # fmt: skip
    p.add_argument(
        "--collections",
        type=_collections,
        metavar="LIST",
        help="comma-separated collections to save, e.g. weights,biases,gradients,losses "
        "(default: losses; all: weights, biases, gradients, losses, inputs, outputs, "
        "optimizer_variables, metrics, scalars)",
    )
    p.add_argument(
        "--save-interval", type=positive_int, metavar="N", help="save every N steps (default: 500)"
    )
    p.add_argument(
        "--reductions",
        type=_reductions,
        metavar="LIST",
        help="save these reductions instead of whole tensors, e.g. mean,abs_mean,abs_max,l2 (any of "
        "min, max, mean, std, variance, sum, prod, l1, l2, each also as abs_...; default: whole tensors)",
    )
    p.add_argument("script", help="the training script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=_run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a PyTorch training script instrumented, without changing it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)


def hook_options(args: argparse.Namespace) -> dict[str, Any]:
    """The hook keyword arguments chosen on the command line (only those given)."""
    from smdbg.config import SaveConfig

    out: dict[str, Any] = {}
    if args.collections is not None:
        out["include_collections"] = args.collections
    if args.save_interval is not None:
        out["save_config"] = SaveConfig(save_interval=args.save_interval)
    if args.reductions is not None:
        out["reduction_config"] = args.reductions
    return out


def _run(args: argparse.Namespace) -> int:
    from smdbg._optional import require

    require("torch", extra="torch", feature="smdbg run (it instruments PyTorch scripts)")
    if not os.path.isfile(args.script):
        raise FileNotFoundError(
            f"training script {args.script!r} does not exist: expected a path to a .py file"
        )
    if args.config is not None and not os.path.isfile(args.config):
        raise FileNotFoundError(f"--config {args.config!r} does not exist: expected a JSON hook config file")
    from smdbg.launcher import run_script

    return run_script(args.script, list(args.args), config_path=args.config, out_dir=args.out,
                      hook_options=hook_options(args))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smdbg.launch_cli ARGS``: the same as ``smdbg run ARGS``."""
    return subcommand_main("run", register, argv)


if __name__ == "__main__":
    sys.exit(main())
