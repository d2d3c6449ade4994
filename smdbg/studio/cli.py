"""``smdbg studio [--host 127.0.0.1] [--port 8080] [--db-url URL] [--trials DIR ...]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; expected 0 to 65535, e.g. 8080") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: expected a port number from 0 to 65535, e.g. 8080")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("studio", help="serve the studio web UI (experiments, debugger, platform)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--db-url", default=None, help="tracker database URL (default: $SMDBG_TRACKER_URL, else ~/.smdbg/tracker.db)"
    )
    p.add_argument("--trials", nargs="*", default=[], metavar="DIR", help="directories holding debugger trials")
    p.add_argument(
        "--platform-root",
        default=None,
        help="the platform's state directory, holding jobs/ and endpoints/ (default: $SMDBG_HOME, else ~/.smdbg)",
    )
    p.add_argument("--token", default=None, help="token every request must carry (default: $SMDBG_STUDIO_TOKEN)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from smdbg import _settings
    from smdbg._cli import CliError
    from smdbg.studio import StudioError, serve

    for root in args.trials:
        if "://" not in root and not Path(root).is_dir():
            raise CliError(f"--trials {root!r} is not a directory; expected directories holding debugger trials")
    if args.platform_root is not None and not Path(args.platform_root).expanduser().is_dir():
        raise CliError(
            f"--platform-root {args.platform_root!r} is not a directory; expected the platform's state "
            "directory (the folder holding jobs/ and endpoints/, e.g. ~/.smdbg)"
        )
    from smdbg.tracker import TrackerError, get_backend

    try:  # a database URL that does not work is bad input, said before serving
        get_backend(args.db_url)
    except TrackerError as e:
        raise CliError(str(e)) from None
    token = args.token or _settings.STUDIO_TOKEN.get()
    try:
        handle = serve(
            args.host,
            args.port,
            tracker_db_url=args.db_url,
            trial_roots=args.trials,
            platform_root=args.platform_root,
            token=token,
        )
    except StudioError as e:
        raise CliError(str(e)) from None
    print(f"smdbg studio: serving on {handle.url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        handle.wait()
    except KeyboardInterrupt:
        handle.stop()
    return 0
