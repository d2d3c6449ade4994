"""``smdbg api serve``: the SageMaker-compatible control plane (docs/api.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "main"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number; expected an integer from 0 to 65535, e.g. 8070"
        ) from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: expected a port number from 0 to 65535, e.g. 8070")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return int(text)


def _serve(args: argparse.Namespace) -> int:
    from smdbg.platform.api import ServiceLimits, load_credentials, serve

    credentials = load_credentials(args.credentials_file) if args.credentials_file else None
    quotas = {k: v for k, v in (("max_vcpus", args.max_vcpus), ("max_endpoints", args.max_endpoints)) if v}
    serve(host=args.host, port=args.port, root=args.root, credentials=credentials,
          require_auth=True if args.require_auth else None, limits=ServiceLimits(**quotas))  # fmt: skip
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("api", help="serve a SageMaker-compatible API (boto3 'sagemaker' clients)")
    sub = parser.add_subparsers(dest="api_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "serve", help="run the control plane (JSON 1.1 + runtime invocations) until interrupted"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; others need --credentials-file)",
    )
    p.add_argument("--port", type=_port, default=8070, help="port (default 8070)")
    p.add_argument(
        "--root", default=None, help="state folder: api.db and downloads (default $SMDBG_HOME/api)"
    )
    p.add_argument("--credentials-file", default=None,
                   help="JSON {AccessKeyId, SecretAccessKey} (or a list): requests must be SigV4-signed with one")  # fmt: skip
    p.add_argument("--require-auth", action="store_true", help="check signatures on a loopback address too")
    p.add_argument("--max-vcpus", type=_positive, default=None,
                   help="vCPUs one job or endpoint may ask (InstanceCount x type vCPUs; default 8 x this machine's CPUs)")  # fmt: skip
    p.add_argument("--max-endpoints", type=_positive, default=None,
                   help="endpoints running at once (default 16)")  # fmt: skip
    p.set_defaults(func=_serve)


def main(argv: list[str] | None = None) -> int:
    from smdbg._cli import subcommand_main

    return subcommand_main("api", register, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
