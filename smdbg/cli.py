"""The ``smdbg`` command line.

Each component owns its subcommands in its own module, which exposes
``register(subparsers) -> None``; every registered subparser sets ``func`` (taking the parsed
arguments and returning an exit code). Modules load lazily, only when the CLI starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from smdbg._optional import MissingDependencyError

__all__ = ["main", "build_parser"]

# Modules that add subcommands, in the order they appear in ``smdbg --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "smdbg.platform.serving.cli",
    "smdbg.trial_cli",
    "smdbg.launch_cli",
    "smdbg.rules.cli",
    "smdbg.tracker.cli",
    "smdbg.platform.jobs.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smdbg", description="Open training instrumentation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except MissingDependencyError as e:  # an optional package the command needs: what to install
        if os.environ.get("SMDBG_DEBUG"):
            raise
        print(f"smdbg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, LookupError, TypeError) as e:  # bad input: one clear line, no traceback
        if os.environ.get("SMDBG_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"smdbg {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
