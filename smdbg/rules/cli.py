"""``smdbg rule run TRIAL --rule NAME [--param k=v ...] [--follow] [--action ...]`` and ``smdbg rule list``.

Exit status: 0 NoIssuesFound, 1 IssuesFound, 2 Error (the status file says why).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smdbg.trial import Trial

__all__ = ["register", "main"]


def register(subparsers: Any) -> None:
    rule = subparsers.add_parser("rule", help="run built-in rules on a trial (also while it trains)")
    sub = rule.add_subparsers(dest="rule_command", metavar="ACTION")
    run = sub.add_parser("run", help="evaluate a rule on a trial; with --follow until training ends")
    run.add_argument("trial", help="trial directory or URL")
    run.add_argument("--rule", required=True, help="built-in rule name, e.g. exploding_tensor")
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
    run.add_argument("--start-step", type=int, default=0)
    run.add_argument("--end-step", type=int, default=None)
    run.add_argument("--poll-interval", type=float, default=0.5, help="seconds between looks at a live trial")
    run.add_argument("--timeout", type=float, default=None, help="give up following after this many seconds")
    run.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the trial to appear")
    run.add_argument("--quiet", action="store_true", help="print only the final status")
    run.set_defaults(func=_run)
    lst = sub.add_parser("list", help="list the built-in rules and their parameters")
    lst.set_defaults(func=_list)
    rule.set_defaults(func=lambda args: (rule.print_help(), 2)[1])


def _params(pairs: list[str]) -> dict[str, str]:
    from smdbg.rules._errors import RuleConfigError

    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise RuleConfigError(f"--param {p!r}: expected KEY=VALUE, e.g. --param threshold=1e-6")
        out[key.strip()] = value
    return out


def _run(args: argparse.Namespace) -> int:
    from smdbg.exceptions import NoTrialFound
    from smdbg.fs import check_path_component
    from smdbg.rules import RuleConfigError, RuleJob, RuleStatus, builtin_rule_class, parse_action
    from smdbg.trials import create_trial

    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    try:  # the name becomes the rule's status folder in the trial: refused before anything is written
        check_path_component(args.name or args.rule, "--name" if args.name else "--rule")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        trial = create_trial(args.trial, timeout=args.wait)
    except NoTrialFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = args.name or args.rule
    try:
        cls = builtin_rule_class(args.rule)
        others = [create_trial(args.other_trial, timeout=args.wait)] if args.other_trial else None
        rule = cls(trial, other_trials=others, **_params(args.param))
        actions = [parse_action(a) for a in args.action]
    except (RuleConfigError, NoTrialFound) as e:
        _error_status(trial, name, str(e))
        print(f"rule {name}: Error - {e}", file=sys.stderr)
        return 2
    job = RuleJob(rule, actions=actions, follow=args.follow, start_step=args.start_step, end_step=args.end_step,
                  poll_interval=args.poll_interval, timeout=args.timeout, name=name, progress=say)  # fmt: skip
    result = job.run()
    if args.quiet:
        print(f"rule {name}: {result.status} - {result.reason}")
    return {RuleStatus.NO_ISSUES_FOUND: 0, RuleStatus.ISSUES_FOUND: 1}.get(result.status, 2)


def _error_status(trial: Trial, name: str, reason: str) -> None:
    """Record a configuration error in the trial, as a job would."""
    from smdbg.trial import RuleStatus, RuleStatusDoc, write_rule_status

    write_rule_status(trial, RuleStatusDoc(rule=name, status=RuleStatus.ERROR, reason=reason))


def _list(args: argparse.Namespace) -> int:
    from smdbg.rules import BUILTIN_RULES

    for name, cls in sorted(BUILTIN_RULES.items()):
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        print(f"{name}: {doc}")
        for pname, p in cls.parameters.items():
            print(f"    {pname} ({p.kind}, default {p.default!r}): {p.help}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m smdbg.rules.cli run ...``: the same as ``smdbg rule ...``, without the other commands."""
    parser = argparse.ArgumentParser(prog="smdbg")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(["rule", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
