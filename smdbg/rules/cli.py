"""``smdbg rule run TRIAL --rule NAME [--param k=v ...] [--follow] [--action ...]``, ``smdbg rule list``
and ``smdbg rule describe NAME``.

Exit status of ``rule run``: 0 NoIssuesFound, 1 IssuesFound, 2 Error or bad input (the status file
in the trial says why, when the trial exists).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from smdbg._cli import CliError, non_negative_int, positive_seconds, seconds, subcommand_main
from smdbg.trial_cli import open_trial

if TYPE_CHECKING:
    from smdbg.trial import Trial

__all__ = ["register", "main"]


def register(subparsers: Any) -> None:
    rule = subparsers.add_parser("rule", help="run built-in rules on a trial (also while it trains)")
    sub = rule.add_subparsers(dest="rule_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="evaluate a rule on a trial; with --follow until training ends")
    run.add_argument("trial", help="trial directory or URL")
    run.add_argument(
        "--rule", required=True, help="built-in rule name, e.g. exploding_tensor (smdbg rule list)"
    )
    run.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="rule parameter (repeatable)"
    )
    run.add_argument("--follow", action="store_true", help="keep evaluating new steps until training ends")
    run.add_argument("--action", action="append", default=[], metavar="ACTION",
                     help="stop_training or notify=URL (repeatable)")  # fmt: skip
    run.add_argument("--other-trial", default=None, help="second trial (similar_across_runs)")
    run.add_argument(
        "--name", default=None, help="name of the rule job's status directory (default: the rule name)"
    )
    run.add_argument("--start-step", type=non_negative_int, default=0)
    run.add_argument("--end-step", type=non_negative_int, default=None)
    run.add_argument("--poll-interval", type=positive_seconds, default=0.5,
                     help="seconds between looks at a live trial (default 0.5)")  # fmt: skip
    run.add_argument(
        "--timeout", type=seconds, default=None, help="give up following after this many seconds"
    )
    run.add_argument("--wait", type=seconds, default=60.0,
                     help="seconds to wait for the trial to appear (default 60; 0: fail at once)")  # fmt: skip
    run.add_argument("--quiet", action="store_true", help="print only the final status")
    run.add_argument("--progress", action="store_true", default=None,
                     help="show progress on stderr also when it is not a terminal (on a terminal it is shown)")  # fmt: skip
    run.set_defaults(func=_run)
    lst = sub.add_parser("list", help="the built-in rules and what they find")
    lst.set_defaults(func=_list)
    desc = sub.add_parser("describe", help="one rule: what it finds, what to save for it, its parameters")
    desc.add_argument("name", help="built-in rule name, e.g. vanishing_gradient")
    desc.set_defaults(func=_describe)


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param {p!r}: expected KEY=VALUE, e.g. --param threshold=1e-6")
        out[key.strip()] = value
    return out


def _check_request(args: argparse.Namespace) -> tuple[Any, dict[str, str], list[Any]]:
    """The rule class, its parameters and actions, checked before any trial is opened."""
    from smdbg.rules import builtin_rule_class, parse_action
    from smdbg.rules._params import parse_parameters

    cls = builtin_rule_class(args.rule)
    params = _params(args.param)
    parse_parameters(cls.name, cls.parameters, params)
    actions = [parse_action(a) for a in args.action]
    if args.end_step is not None and args.end_step <= args.start_step:
        raise CliError(f"--end-step {args.end_step}: expected a step after --start-step {args.start_step}")
    return cls, params, actions


def _run(args: argparse.Namespace) -> int:
    from smdbg.exceptions import NoTrialFound
    from smdbg.fs import check_path_component
    from smdbg.rules import RuleConfigError, RuleJob, RuleStatus

    # The name becomes the rule's status folder in the trial: refused before anything is written.
    check_path_component(args.name or args.rule, "--name" if args.name else "--rule")
    name = args.name or args.rule
    try:
        cls, params, actions = _check_request(args)
    except (RuleConfigError, CliError) as e:  # record it in the trial too when there is one
        try:
            _error_status(open_trial(args.trial, 0), name, str(e))
        except NoTrialFound:
            pass
        raise
    trial = open_trial(args.trial, args.wait)
    try:
        others = [open_trial(args.other_trial, args.wait, option="--wait")] if args.other_trial else None
        rule = cls(trial, other_trials=others, **params)
    except (RuleConfigError, NoTrialFound) as e:
        _error_status(trial, name, str(e))
        raise
    from smdbg._progress import Progress

    progress = Progress(f"rule {name}", enabled=args.progress, unit="tensors")
    _count_reads(rule, progress)

    def say(line: str) -> None:
        if not args.quiet:
            progress.note(line, sys.stdout)

    job = RuleJob(rule, actions=actions, follow=args.follow, start_step=args.start_step, end_step=args.end_step,
                  poll_interval=args.poll_interval, timeout=args.timeout, name=name, progress=say)  # fmt: skip
    with progress:
        result = job.run()
    if args.quiet:
        print(f"rule {name}: {result.status} - {result.reason}")
    return {RuleStatus.NO_ISSUES_FOUND: 0, RuleStatus.ISSUES_FOUND: 1}.get(result.status, 2)


def _count_reads(rule: Any, progress: Any) -> None:
    """Show, while a rule reads its tensors, how many of them it has read (and which one)."""
    if not progress.enabled or not hasattr(rule, "on_read"):
        return
    try:
        total = len(rule.tensors())
    except Exception:  # noqa: BLE001 - the job reports a rule that cannot run; progress just has no total
        total = None
    seen: set[str] = set()

    def on_read(tensor: str) -> None:
        seen.add(tensor)
        progress.update(len(seen), tensor, total=total)

    rule.on_read = on_read


def _error_status(trial: Trial | str, name: str, reason: str) -> None:
    """Record a configuration error in the trial, as a job would."""
    from smdbg.trial import RuleStatus, RuleStatusDoc, write_rule_status

    write_rule_status(trial, RuleStatusDoc(rule=name, status=RuleStatus.ERROR, reason=reason))


def _plain(doc: str | None) -> list[str]:
    """A docstring as plain-text paragraphs (reST markup removed, lines joined)."""
    import inspect
    import re

    text = inspect.cleandoc(doc or "")
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)  # :class:`X` -> X
    text = text.replace("``", "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _wrap(text: str, indent: str) -> str:
    import shutil
    import textwrap

    width = max(60, min(100, shutil.get_terminal_size((100, 20)).columns))
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


def _list(args: argparse.Namespace) -> int:
    from smdbg.rules import BUILTIN_RULES

    for name, cls in sorted(BUILTIN_RULES.items()):
        print(name)
        for para in _plain(cls.__doc__):
            print(_wrap(para, "    "))
        if cls.parameters:
            print(_wrap("parameters: " + ", ".join(cls.parameters), "    "))
        print()
    print("Each rule's parameters, defaults and what to save for it: smdbg rule describe NAME")
    return 0


def _describe(args: argparse.Namespace) -> int:
    from smdbg.rules import builtin_rule_class, rule_configs

    cls = builtin_rule_class(args.name)
    spec = rule_configs.builtin(cls.name)
    print(cls.name)
    for para in _plain(cls.__doc__):
        print(_wrap(para, "    "))
    print("\nwhat the hook must save:")
    if spec.collections_to_save:
        reductions = []
        for c in spec.collections_to_save:
            params = dict(c.parameters or {})
            extra = ", ".join(f"{k}={v}" for k, v in params.items())
            print(f"    collection {c.name}" + (f" ({extra})" if extra else ""))
            reductions += [
                r for r in str(params.get("reductions", "")).split(",") if r and r not in reductions
            ]
        line = f"smdbg run --collections {','.join(spec.collection_names())}"
        print(
            "    from the command line: "
            + line
            + (f" --reductions {','.join(reductions)}" if reductions else "")
        )
    else:
        print("    the tensors it checks, in any collection (see its parameters)")
    print("\nparameters (--param KEY=VALUE):")
    if not cls.parameters:
        print("    none")
    for pname, p in cls.parameters.items():
        default = "none" if p.default is None else repr(p.default)
        print(
            f"    {pname} ({p.kind}, default {default}"
            + (f", at least {p.minimum:g}" if p.minimum is not None else "")
            + ")"
        )
        if p.help:
            print(_wrap(p.help, "        "))
    example = next(iter(cls.parameters), None)
    hint = f" --param {example}=..." if example else ""
    print(f"\nrun it: smdbg rule run TRIAL --rule {cls.name}{hint}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m smdbg.rules.cli run ...``: the same as ``smdbg rule ...``, without the other commands."""
    return subcommand_main("rule", register, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
