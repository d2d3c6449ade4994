"""What every ``smdbg`` subcommand shares: one-line errors, checked numbers, waiting for a trial.

A command that is given bad input (a missing path, an unknown tensor or rule, a negative number)
answers with one line on stderr naming what was wrong and what is valid, and exit status 2:
argument errors through :class:`OneLineParser`, errors found while running through
:class:`CliError` (or any ``OSError``/``ValueError``/``LookupError``, which ``smdbg.cli.main``
turns into that one line).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from smdbg import _settings
from smdbg.exceptions import SmdbgError

__all__ = [
    "CliError",
    "OneLineParser",
    "seconds",
    "positive_seconds",
    "positive_int",
    "non_negative_int",
    "one_line",
    "choices_text",
    "dispatch",
    "subcommand_main",
]


class CliError(SmdbgError, ValueError):
    """Bad input to a command: ``smdbg`` prints the message as one line and exits with status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see: {self.prog} --help)\n")


def one_line(message: object) -> str:
    """``message`` as a single line (inner newlines folded into '; ')."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    return "; ".join(parts)


def choices_text(valid: Iterable[str], limit: int = 12) -> str:
    """'a, b, c' (the first ``limit`` of them, then how many more), or 'none'."""
    items = list(valid)
    if not items:
        return "none"
    head = ", ".join(items[:limit])
    return head + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _number(text: str, convert: Callable[[str], Any], what: str, example: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}; expected e.g. {example}") from None


def seconds(text: str) -> float:
    """An argparse type: a number of seconds >= 0."""
    value = _number(text, float, "a number of seconds", "30")
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"{text} seconds: expected a number of seconds >= 0, e.g. 30")
    return float(value)


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    value = _number(text, float, "a number of seconds", "0.5")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} seconds: expected a number of seconds > 0, e.g. 0.5")
    return float(value)


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    value = _number(text, int, "a whole number", "10")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number >= 1, e.g. 10")
    return int(value)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    value = _number(text, int, "a whole number", "0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number >= 0, e.g. 0")
    return int(value)


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command's ``func``; its exit status. Bad input raised while
    running (``OSError``, ``ValueError``, ``LookupError``, ``TypeError``) , or a missing
    optional package, is one line on stderr and status 2 (``SMDBG_DEBUG=1`` re-raises)."""
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand that does not take them, not the top-level parser
        prog = _prog(args)
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see: {prog} --help)\n")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print(f"{_prog(args)}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `smdbg trial summary T | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (OSError, ValueError, LookupError, TypeError, ImportError) as e:
        if _settings.DEBUG.is_set():
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError's str() quotes it
        print(f"{_prog(args)}: error: {one_line(msg)}", file=sys.stderr)
        return 2


def _prog(args: argparse.Namespace) -> str:
    """``smdbg rule run``: the command words the user typed, for error lines."""
    words = ["smdbg", str(getattr(args, "command", "") or "")]
    for key, value in vars(args).items():
        if key.endswith("_command") and isinstance(value, str):
            words.append(value)
    return " ".join(w for w in words if w)


def subcommand_main(command: str, register: Callable[[Any], None], argv: Sequence[str] | None) -> int:
    """``python -m smdbg.<module> ARGS``: the same as ``smdbg COMMAND ARGS`` for one module."""
    parser = OneLineParser(prog="smdbg")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return dispatch(parser, [command, *(sys.argv[1:] if argv is None else argv)])
