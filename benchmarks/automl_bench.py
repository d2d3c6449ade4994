"""AutoML benchmark: held-out test objective at a fixed budget, beside HistGradientBoosting and FLAML.

For each dataset that ships with scikit-learn (breast cancer, wine, digits, diabetes; California
housing when it is cached locally), split 75/25 (stratified for classification, seed 0), then:

- ``ours``: smdbg AutoML with ``total_job_runtime_in_seconds=BUDGET`` on the training split;
- ``hgb``: scikit-learn's HistGradientBoosting with default settings;
- ``flaml``: FLAML's AutoML at the same budget, run in its own virtualenv (``--flaml-python``),
  when that interpreter exists.

Every method is scored on the test split with the dataset's Autopilot default objective (F1 for
binary, Accuracy for multiclass, MSE for regression). ``ratio`` columns are ours / other, written
so that > 1 means ours is better (for MSE: other / ours).

    python benchmarks/automl_bench.py --budget 60 --flaml-python .bench/flaml-venv/bin/python

``--backend ray`` measures the Ray backend instead (``benchmarks/_ray_bench.py``): candidates
evaluated in the same budget on one and on two simulated Ray nodes, and the job submission
overhead of Ray over the local backend:

    python benchmarks/automl_bench.py --backend ray --budget 30 --datasets breast_cancer
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FLAML_SCRIPT = r"""
import json, sys, time
import numpy as np
from flaml import AutoML
d = np.load(sys.argv[1], allow_pickle=True)
task = sys.argv[2]; budget = float(sys.argv[3]); metric = sys.argv[4]
automl = AutoML()
start = time.time()
automl.fit(d["x_train"], d["y_train"], task=task, time_budget=budget, metric=metric, n_jobs=1, verbose=0, seed=0)
pred = automl.predict(d["x_test"])
print(json.dumps({"pred": np.asarray(pred).tolist(), "seconds": time.time() - start, "best": automl.best_estimator}))
"""


def datasets() -> dict[str, tuple[pd.DataFrame, str]]:
    from sklearn import datasets as ds

    out: dict[str, tuple[pd.DataFrame, str]] = {}
    for name, loader in (
        ("breast_cancer", ds.load_breast_cancer),
        ("wine", ds.load_wine),
        ("digits", ds.load_digits),
        ("diabetes", ds.load_diabetes),
    ):
        out[name] = (loader(as_frame=True).frame, "target")
    try:
        housing = ds.fetch_california_housing(as_frame=True, download_if_missing=False)
        out["california_housing"] = (housing.frame, "MedHouseVal")
    except OSError:
        print("california_housing: not cached locally (needs a download); skipped", file=sys.stderr)
    return out


def score(objective: Any, y: np.ndarray, pred: np.ndarray, classes: list[Any] | None) -> float:
    if classes is None:
        return objective.score(y, pred.astype(float))
    onehot = (np.asarray(pred)[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(objective.score(y, onehot, np.asarray(classes)))


def run_one(
    name: str, frame: pd.DataFrame, target: str, budget: float, flaml_python: str | None
) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    from smdbg.platform.automl import AutoML
    from smdbg.platform.automl._problem import default_objective, infer_problem_type

    problem = infer_problem_type(frame[target])
    objective = default_objective(problem)
    classify = problem != "Regression"
    train, test = train_test_split(
        frame, test_size=0.25, random_state=0, stratify=frame[target] if classify else None
    )
    x_train, y_train = train.drop(columns=target), train[target].to_numpy()
    x_test, y_test = test.drop(columns=target), test[target].to_numpy()
    classes = sorted(set(y_train.tolist())) if classify else None
    row: dict[str, Any] = {"dataset": name, "rows": len(frame), "metric": objective.name}

    hgb = HistGradientBoostingClassifier() if classify else HistGradientBoostingRegressor()
    row["hgb"] = score(objective, y_test, hgb.fit(x_train, y_train).predict(x_test), classes)

    with tempfile.TemporaryDirectory() as tmp:
        automl = AutoML(
            target,
            problem_type=problem,
            total_job_runtime_in_seconds=budget,
            output_path=tmp,
            tracker_db_url=f"sqlite:///{tmp}/tracker.db",
            generate_notebooks=False,
        )
        start = time.monotonic()
        automl.fit(train, job_name=name, logs=False)
        row["ours_s"] = time.monotonic() - start
        row["ours"] = score(objective, y_test, automl.predict(x_test), classes)
        row["candidates"] = len(automl.list_candidates())
        row["best"] = automl.best_candidate()["InferenceContainers"][0]["Algorithm"]

    row["flaml"] = None
    if flaml_python and Path(flaml_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data.npz"
            np.savez(data, x_train=x_train.to_numpy(), y_train=y_train, x_test=x_test.to_numpy())
            task = "classification" if classify else "regression"
            metric = {"F1": "f1", "Accuracy": "accuracy", "MSE": "mse"}[objective.name]
            done = subprocess.run(
                [flaml_python, "-c", FLAML_SCRIPT, str(data), task, str(budget), metric],
                capture_output=True,
                text=True,
                timeout=budget * 3 + 120,
            )
            if done.returncode == 0:
                result = json.loads(done.stdout.strip().splitlines()[-1])
                row["flaml"] = score(objective, y_test, np.asarray(result["pred"]), classes)
                row["flaml_s"] = result["seconds"]
            else:
                print(f"{name}: FLAML failed: {done.stderr[-500:]}", file=sys.stderr)
    return row


def ratio(ours: float, other: float | None, maximize: bool) -> float | None:
    if other is None or ours == 0 or other == 0:
        return None
    return ours / other if maximize else other / ours


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per dataset per method")
    parser.add_argument("--datasets", nargs="*", help="subset of dataset names")
    parser.add_argument("--flaml-python", help="python of a virtualenv with flaml[automl] installed")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--repeats", type=int, default=3, help="--backend ray: jobs per backend")
    parser.add_argument("--node-cpus", type=int, default=2, help="--backend ray: CPUs per simulated node")
    args = parser.parse_args()
    if args.backend == "ray":
        sys.path.insert(0, str(Path(__file__).parent))
        from _ray_bench import main as ray_main

        name = (args.datasets or ["breast_cancer"])[0]
        frame, target = datasets()[name]
        ray_main(frame, target, args.budget, args.repeats, args.node_cpus)
        return
    from smdbg.platform.automl._problem import OBJECTIVES

    rows = []
    for name, (frame, target) in datasets().items():
        if args.datasets and name not in args.datasets:
            continue
        row = run_one(name, frame, target, args.budget, args.flaml_python)
        maximize = OBJECTIVES[row["metric"]].maximize
        row["ours/hgb"] = ratio(row["ours"], row["hgb"], maximize)
        row["ours/flaml"] = ratio(row["ours"], row["flaml"], maximize)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))

    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    cols = ["dataset", "rows", "metric", "ours", "hgb", "flaml", "ours/hgb", "ours/flaml", "ours_s", "best"]
    print(f"budget {args.budget:g} s per dataset; test split 25%; ratio > 1: ours better")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(c)) for c in cols) + " |")


if __name__ == "__main__":
    main()
