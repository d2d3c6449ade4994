"""``smdbg jobs list|describe|logs|stop``: training and processing jobs under ``$SMDBG_HOME/jobs``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smdbg._cli import CliError, choices_text, seconds, subcommand_main

__all__ = ["register", "main"]


def _list(args: argparse.Namespace) -> int:
    from smdbg.platform.jobs import list_jobs

    rows = list_jobs()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no jobs")
        return 0
    cols = ("name", "kind", "status", "backend", "created", "failure_reason")
    table = [[str(r.get(c) or "-") for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


def _describe(args: argparse.Namespace) -> int:
    from smdbg.platform.jobs import TrainingJob

    desc = TrainingJob(args.name).describe()  # JobNotFound: one line, exit 2 (smdbg._cli.dispatch)
    print(json.dumps(desc, indent=2, sort_keys=True, default=str))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from smdbg.platform.jobs import job_logs

    logs = job_logs(args.name)
    hosts = [h for h in logs if args.host in (None, h)]
    if args.host is not None and not hosts:
        raise CliError(
            f"--host {args.host!r}: job {args.name!r} has no such worker; expected one of {choices_text(logs)}"
        )
    for host in hosts:
        for line in logs[host].splitlines():
            print(f"{host} | {line}" if len(hosts) > 1 else line)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from smdbg.platform.jobs import stop_job
    from smdbg.platform.jobs._job import job_status

    desc = stop_job(args.name, wait=not args.no_wait, timeout=args.timeout)
    print(f"{args.name}: {job_status(desc)}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "jobs", help="list, describe, read logs of or stop training/processing jobs"
    )
    sub = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="list jobs with their status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_list)
    p = sub.add_parser("describe", help="print a job's SageMaker-shaped description as JSON")
    p.add_argument("name")
    p.set_defaults(func=_describe)
    p = sub.add_parser("logs", help="print a job's log (every worker's, prefixed by host)")
    p.add_argument("name")
    p.add_argument("--host", default=None, help="only this worker, e.g. algo-2")
    p.set_defaults(func=_logs)
    p = sub.add_parser("stop", help="stop a running job (its status becomes Stopped)")
    p.add_argument("name")
    p.add_argument("--no-wait", action="store_true", help="return without waiting for Stopped")
    p.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for the job to stop")
    p.set_defaults(func=_stop)


def main(argv: list[str] | None = None) -> int:
    """``python -m smdbg.platform.jobs.cli list|describe|logs|stop``: ``smdbg jobs ...`` alone."""
    return subcommand_main("jobs", register, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
