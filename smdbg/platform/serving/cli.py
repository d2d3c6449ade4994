"""``smdbg endpoints list|delete``: the endpoints registered under ``$SMDBG_HOME``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smdbg._cli import seconds

__all__ = ["register"]


def _list(args: argparse.Namespace) -> int:
    from smdbg.platform.serving import list_endpoints

    rows = list_endpoints()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no endpoints")
        return 0
    cols = ("name", "status", "instances", "url", "framework", "capture", "created")
    table = [[str(r.get(c) or "-") for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)))
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    return 0


def _delete(args: argparse.Namespace) -> int:
    from smdbg._cli import CliError, choices_text, one_line
    from smdbg.platform.serving import EndpointError, delete_endpoint, list_endpoints

    registered = [r["name"] for r in list_endpoints()]
    names = registered if args.all else args.names
    if not names and not args.all:
        raise CliError(f"give endpoint names to delete, or --all; registered: {choices_text(registered)}")
    code = 0
    for name in names:
        try:
            delete_endpoint(name, timeout=args.timeout)
            print(f"deleted {name}")
        except (EndpointError, ValueError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"smdbg endpoints delete: error: {one_line(msg)}", file=sys.stderr)
            code = 2
    return code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("endpoints", help="list or delete local model endpoints")
    sub = parser.add_subparsers(dest="endpoints_command", metavar="ACTION", required=True)
    p_list = sub.add_parser("list", help="list endpoints with their status")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.set_defaults(func=_list)
    p_del = sub.add_parser("delete", help="stop endpoints (capture is flushed) and remove them")
    p_del.add_argument("names", nargs="*", help="endpoint names")
    p_del.add_argument("--all", action="store_true", help="delete every registered endpoint")
    p_del.add_argument("--timeout", type=seconds, default=30.0, help="seconds to wait for a clean stop")
    p_del.set_defaults(func=_delete)
