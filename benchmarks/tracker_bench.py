"""Tracker benchmark: log_metric throughput (1 process, 4 processes into one SQLite file) and the
ExperimentAnalytics DataFrame over 1,000 trial components x 10 metrics x 1,000 points, against
MLflow's SQLite tracking store doing the same work in the same run (in its own virtualenv).

    .venv/bin/python benchmarks/tracker_bench.py            # full size
    .venv/bin/python benchmarks/tracker_bench.py --quick    # smaller, for a smoke run

MLflow runs in ``--mlflow-python`` (default ``.bench/mlflow-venv/bin/python``; create it with
``python -m venv .bench/mlflow-venv && .bench/mlflow-venv/bin/pip install mlflow-skinny alembic sqlalchemy pandas``).
MLflow logs far fewer points per second, so it logs ``--mlflow-points`` points and its rate is
points divided by its own time (a rate, comparable at any count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_OURS_LOGGER = textwrap.dedent(
    """
    import json, sys, time
    from smdbg.tracker import Tracker
    url, n, start_at, name = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    tr = Tracker.create(trial_component_name=name, db_url=url)
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.time()
    for i in range(n):
        tr.log_metric("loss", i * 0.001, iteration_number=i)
    tr.close()
    print(json.dumps({"start": t0, "end": time.time()}))
    """
)

_MLFLOW_LOGGER = textwrap.dedent(
    """
    import json, sys, time, logging
    logging.disable(logging.WARNING)
    from mlflow.tracking import MlflowClient
    url, n, start_at, name = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    c = MlflowClient(tracking_uri=url)
    exp = c.get_experiment_by_name("bench")
    run = c.create_run(exp.experiment_id, run_name=name)
    while time.time() < start_at:
        time.sleep(0.001)
    t0, errors = time.time(), 0
    for i in range(n):
        try:
            c.log_metric(run.info.run_id, "loss", i * 0.001, step=i)
        except Exception as e:
            errors += 1
            last = str(e)[:200]
    print(json.dumps({"start": t0, "end": time.time(), "errors": errors}))
    """
)

_MLFLOW_SETUP = textwrap.dedent(
    """
    import logging, sys
    logging.disable(logging.WARNING)
    from mlflow.tracking import MlflowClient
    MlflowClient(tracking_uri=sys.argv[1]).create_experiment("bench")
    """
)

_MLFLOW_ANALYTICS = textwrap.dedent(
    """
    import json, logging, sys, time, statistics
    logging.disable(logging.WARNING)
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    url, runs, metrics, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    c = MlflowClient(tracking_uri=url)
    exp = c.create_experiment("analytics")
    t0 = time.perf_counter()
    for r in range(runs):
        run = c.create_run(exp)
        ms = [Metric(f"m{k}", float(p), 1000 + p, p) for k in range(metrics) for p in range(points)]
        for i in range(0, len(ms), 1000):
            c.log_batch(run.info.run_id, metrics=ms[i:i + 1000], params=[Param("lr", str(r))] if i == 0 else [])
    setup = time.perf_counter() - t0
    mlflow.set_tracking_uri(url)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        df = mlflow.search_runs(experiment_ids=[exp], max_results=100000)
        times.append(time.perf_counter() - t)
    print(json.dumps({"setup": setup, "seconds": statistics.median(times), "rows": len(df)}))
    """
)


def _parallel(
    python: str, script: str, url: str, n: int, procs: int, env: dict[str, str]
) -> dict[str, float]:
    start_at = time.time() + 3.0  # every process is started and connected before the clock runs
    ps = [
        subprocess.Popen(
            [python, "-c", script, url, str(n), str(start_at), f"worker-{k}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for k in range(procs)
    ]
    results = []
    for p in ps:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"benchmark worker failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - start_at
    return {"rate": procs * n / wall, "errors": sum(r.get("errors", 0) for r in results)}


def _ours_analytics(url: str, components: int, metrics: int, points: int) -> dict[str, float]:
    import numpy as np

    from smdbg.tracker import Experiment, ExperimentAnalytics, TrialComponent, get_backend
    from smdbg.tracker._records import MetricBatch

    t0 = time.perf_counter()
    exp = Experiment.create("analytics", db_url=url)
    trial = exp.create_trial("t")
    backend = get_backend(url)
    values = np.linspace(0.0, 1.0, points)
    stamps = np.full(points, 1.0e9)
    its = np.arange(points, dtype=np.int64)
    for c in range(components):
        tc = TrialComponent.create(f"tc-{c}", db_url=url)
        # The batches a Tracker's flush writes: one transaction per component, all its points.
        backend.write(
            tc.trial_component_name,
            parameters={"lr": 0.001 * c, "optimizer": "adam"},
            metrics=[MetricBatch(f"m{k}", values + k, stamps, its) for k in range(metrics)],
        )
        trial.add_trial_component(tc)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t = time.perf_counter()
        df = ExperimentAnalytics(experiment_name="analytics", db_url=url).dataframe()
        times.append(time.perf_counter() - t)
    assert len(df) == components and df["m0 - Count"].sum() == components * points
    return {"setup": setup, "seconds": statistics.median(times), "rows": len(df)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--points", type=int, default=200_000, help="points per process for smdbg")
    ap.add_argument("--mlflow-points", type=int, default=200, help="points per process for MLflow")
    ap.add_argument("--components", type=int, default=1000)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--points-per-metric", type=int, default=1000)
    ap.add_argument(
        "--mlflow-analytics-points",
        type=int,
        default=10,
        help="points per metric in MLflow's analytics experiment (its log_batch set-up is slow; "
        "search_runs reads only the latest value of each metric, so this does not change its query)",
    )
    ap.add_argument("--mlflow-python", default=str(ROOT / ".bench" / "mlflow-venv" / "bin" / "python"))
    args = ap.parse_args()
    if args.quick:
        args.points, args.mlflow_points, args.components, args.points_per_metric = 20_000, 100, 100, 100
        args.mlflow_analytics_points = 10
    work = Path(tempfile.mkdtemp(prefix="smdbg-tracker-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    have_mlflow = Path(args.mlflow_python).exists() and (
        subprocess.run(
            [args.mlflow_python, "-c", "import mlflow, alembic, pandas"], capture_output=True
        ).returncode
        == 0
    )
    rows: list[tuple[str, str, str, str]] = []
    try:
        ours1 = _parallel(sys.executable, _OURS_LOGGER, f"sqlite:///{work / 'ours1.db'}", args.points, 1, env)
        ours4 = _parallel(sys.executable, _OURS_LOGGER, f"sqlite:///{work / 'ours4.db'}", args.points, 4, env)
        ana = _ours_analytics(
            f"sqlite:///{work / 'ana.db'}", args.components, args.metrics, args.points_per_metric
        )
        ml1 = ml4 = mla = None
        if have_mlflow:
            for name in ("ml1", "ml4"):
                subprocess.run(
                    [args.mlflow_python, "-c", _MLFLOW_SETUP, f"sqlite:///{work / name}.db"],
                    check=True,
                    env=env,
                )
            ml1 = _parallel(
                args.mlflow_python, _MLFLOW_LOGGER, f"sqlite:///{work / 'ml1.db'}", args.mlflow_points, 1, env
            )
            ml4 = _parallel(
                args.mlflow_python, _MLFLOW_LOGGER, f"sqlite:///{work / 'ml4.db'}", args.mlflow_points, 4, env
            )
            out = subprocess.run(
                [args.mlflow_python, "-c", _MLFLOW_ANALYTICS, f"sqlite:///{work / 'mla.db'}"]
                + [str(args.components), str(args.metrics), str(args.mlflow_analytics_points)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            mla = json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def ratio(a: float, b: float | None) -> str:
        return "-" if not b else f"{a / b:,.1f}x"

    rows.append(
        (
            "log_metric, 1 process (points/s)",
            f"{ours1['rate']:,.0f}",
            "not installed" if ml1 is None else f"{ml1['rate']:,.0f}",
            ratio(ours1["rate"], ml1 and ml1["rate"]),
        )
    )
    ml4_txt = (
        "not installed"
        if ml4 is None
        else f"{ml4['rate']:,.0f}" + (f" ({ml4['errors']:.0f} errors)" if ml4["errors"] else "")
    )
    rows.append(
        (
            "log_metric, 4 processes, one SQLite file (points/s)",
            f"{ours4['rate']:,.0f}",
            ml4_txt,
            ratio(ours4["rate"], ml4 and ml4["rate"]),
        )
    )
    shape = f"{args.components} x {args.metrics} x {args.points_per_metric}"
    rows.append(
        (
            f"analytics DataFrame, {shape} (s, median of 3)",
            f"{ana['seconds']:.3f}",
            "not installed"
            if mla is None
            else f"{mla['seconds']:.3f} (search_runs, {args.mlflow_analytics_points} pts/metric)",
            "-" if mla is None else f"{mla['seconds'] / ana['seconds']:,.1f}x faster",
        )
    )
    rows.append(
        (
            "set-up of that experiment (s)",
            f"{ana['setup']:.1f}",
            "-" if mla is None else f"{mla['setup']:.1f} (log_batch)",
            "-",
        )
    )
    header = ("measure", "smdbg.tracker", "MLflow (SQLite)", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(
        f"smdbg tracker benchmark ({'quick' if args.quick else 'full'}); python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(f"smdbg: {args.points:,} points per process; MLflow: {args.mlflow_points:,} points per process")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(x.ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
