"""``smdbg run [--config hook.json] [--out DIR] train.py ARGS...``: instrument an unmodified script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["register", "main"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="smdebug-style JSON hook config (default: $SMDBG_CONFIG_FILE_PATH)")
    p.add_argument("--out", help="trial directory (overrides the config's LocalPath)")
    p.add_argument("script", help="the training script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=_run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a PyTorch training script instrumented, without changing it",
        description=__doc__,
    )
    _add_arguments(p)


def _run(args: argparse.Namespace) -> int:
    from smdbg._optional import require

    require("torch", extra="torch", feature="smdbg run (it instruments PyTorch scripts)")
    from smdbg.launcher import run_script

    return run_script(args.script, list(args.args), config_path=args.config, out_dir=args.out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smdbg run", description=__doc__)
    _add_arguments(p)
    ns = p.parse_args(argv)
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
