"""The ``smdbg`` command line.

Each component owns its subcommands in its own module, which exposes
``register(subparsers) -> None``; every registered subparser sets ``func`` (taking the parsed
arguments and returning an exit code). Modules load lazily, only when the CLI starts.
Bad input to any command is one line on stderr and exit status 2 (see :mod:`smdbg._cli`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# Modules that add subcommands, in the order they appear in ``smdbg --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "smdbg.platform.serving.cli",
    "smdbg.trial_cli",
    "smdbg.launch_cli",
    "smdbg.rules.cli",
    "smdbg.tracker.cli",
    "smdbg.platform.jobs.cli",
    "smdbg.studio.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from smdbg._cli import OneLineParser

    parser = OneLineParser(prog="smdbg", description="Open training instrumentation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from smdbg._cli import dispatch

    return dispatch(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
