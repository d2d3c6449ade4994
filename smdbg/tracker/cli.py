"""``smdbg experiments list|show`` and ``smdbg export tensorboard`` command lines."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from smdbg._optional import require

__all__ = ["register"]

_DB_HELP = "tracker database URL (default: $SMDBG_TRACKER_URL, else sqlite:///~/.smdbg/tracker.db)"


def register(subparsers: Any) -> None:
    exp = subparsers.add_parser("experiments", help="list experiments and compare their trial components")
    exp_sub = exp.add_subparsers(dest="experiments_command", metavar="ACTION", required=True)
    p = exp_sub.add_parser("list", help="every experiment with its trial and trial-component counts")
    p.add_argument("--db-url", default=None, help=_DB_HELP)
    p.set_defaults(func=_list)
    p = exp_sub.add_parser("show", help="comparison table of an experiment's trial components")
    p.add_argument("name", help="experiment name")
    p.add_argument("--db-url", default=None, help=_DB_HELP)
    p.add_argument("--metrics", nargs="*", default=None, help="metric names to show (default: all)")
    p.add_argument("--parameters", nargs="*", default=None, help="parameter names to show (default: all)")
    p.add_argument(
        "--stats",
        default="Min,Max,Last",
        help="metric summary columns, comma-separated (default: Min,Max,Last)",
    )
    p.add_argument("--sort-by", default=None, help="e.g. Metrics.loss.Min or Parameters.lr")
    p.add_argument("--descending", action="store_true", help="sort descending")
    p.set_defaults(func=_show)

    exp_cmd = subparsers.add_parser("export", help="export data to other tools")
    exp_cmd_sub = exp_cmd.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    p = exp_cmd_sub.add_parser("tensorboard", help="write TensorBoard event files")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trial", default=None, help="a debugger trial (directory or s3:// URL)")
    src.add_argument("--experiment", default=None, help="a tracker experiment name")
    p.add_argument("outdir", help="directory to write event files into (open it with tensorboard --logdir)")
    p.add_argument("--db-url", default=None, help=_DB_HELP)
    p.set_defaults(func=_export)


def _fail(err: Exception) -> int:
    """A tracker error is bad input here (an unknown experiment, a database URL that does not
    work): ``smdbg`` prints it as one line and exits with status 2."""
    from smdbg._cli import CliError

    raise CliError(str(err)) from None


def _list(args: argparse.Namespace) -> int:
    from smdbg.tracker import TrackerError, get_backend

    try:
        backend = get_backend(args.db_url)
        rows: list[tuple[str, ...]] = []
        for e in backend.list_experiments():
            trials = backend.list_trials(experiment_name=e.name)
            n_tc = len(backend.list_components(experiment_name=e.name))
            created = datetime.fromtimestamp(e.creation_time).strftime("%Y-%m-%d %H:%M:%S")
            rows.append((e.name, str(len(trials)), str(n_tc), created, e.description or ""))
    except TrackerError as err:
        return _fail(err)
    _print_table(("EXPERIMENT", "TRIALS", "COMPONENTS", "CREATED", "DESCRIPTION"), rows)
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def _show(args: argparse.Namespace) -> int:
    pd = require("pandas", extra="tracker", feature="smdbg experiments show")

    from smdbg.tracker import ExperimentAnalytics, TrackerError

    try:
        df = ExperimentAnalytics(
            experiment_name=args.name,
            sort_by=args.sort_by,
            sort_order="Descending" if args.descending else "Ascending",
            metric_names=args.metrics,
            parameter_names=args.parameters,
            input_artifact_names=[],
            output_artifact_names=[],
            db_url=args.db_url,
        ).dataframe()
    except TrackerError as err:
        return _fail(err)
    stats = {s.strip() for s in args.stats.split(",") if s.strip()}
    keep = [c for c in df.columns if " - " not in c or c.rsplit(" - ", 1)[1] in stats]
    df = df[keep].drop(columns=["Experiments"])
    df["Trials"] = [",".join(t) for t in df["Trials"]]
    if df.empty:
        print(f"experiment {args.name!r} has no trial components")
        return 0
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
        print(df.to_string(index=False))
    return 0


def _export(args: argparse.Namespace) -> int:
    from smdbg.tracker import TrackerError
    from smdbg.tracker._tensorboard import export_tensorboard

    try:  # a trial to export exists already: the bridge does not wait for one
        runs = export_tensorboard(
            args.outdir, experiment_name=args.experiment, trial_path=args.trial, db_url=args.db_url
        )
    except (TrackerError, LookupError, OSError) as err:
        return _fail(err)
    for run in runs:
        print(run)
    print(f"wrote {len(runs)} run(s); view with: tensorboard --logdir {args.outdir}", file=sys.stderr)
    return 0
