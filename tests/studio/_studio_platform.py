"""A small real platform for the studio's platform tests: a training job (local backend) with
metric definitions, an AutoML job with its two notebooks, an endpoint with data capture (kept
running: the page shows it InService) and two monitoring executions (one with a violation).

``build_platform(root)`` needs ``SMDBG_HOME`` pointing into ``root`` already; it returns the
folders and names the tests look for. The caller deletes the endpoint (``delete_endpoint``).
``built_platform(root)`` does it all around a test module: the platform is built with its state
in ``root/home``, then ``$SMDBG_HOME`` points at an empty ``root/elsewhere`` while the tests run
(what reads the platform must be given ``root/home``), and the endpoint is deleted at the end.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

N_FEATURES = 4

TRAIN_SCRIPT = """
import time
for e in range(4):
    print(f"epoch {e}: train_loss={1.0 / (e + 1):.4f} acc={0.5 + e / 10:.2f}", flush=True)
"""


def _train_job(root: Path) -> str:
    from smdbg.platform.jobs import Estimator

    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "train.py").write_text(textwrap.dedent(TRAIN_SCRIPT).lstrip())
    est = Estimator("train.py", source_dir=str(src), hyperparameters={"epochs": 4},
                    metric_definitions=[{"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"}])  # fmt: skip
    est.fit(job_name="studio-train", logs=False)
    return "studio-train"


def _automl(root: Path) -> Path:
    from smdbg.platform.automl import AutoML

    rng = np.random.default_rng(0)
    n = 160
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "label": np.where(x1 - x2 > 0, "yes", "no")})
    out = root / "automl"
    AutoML("label", max_candidates=2, total_job_runtime_in_seconds=120, output_path=out,
           tracker_db_url=f"sqlite:///{root / 'automl-tracker.db'}", algorithms=["linear"],
           ensemble=False, generate_notebooks=True).fit(frame, job_name="churn", logs=False)  # fmt: skip
    return out


def _serve_and_monitor(root: Path) -> tuple[Any, Path]:
    from sklearn.linear_model import LogisticRegression

    from smdbg.platform.monitor import DatasetFormat, DefaultModelMonitor
    from smdbg.platform.serving import DataCaptureConfig, Model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, N_FEATURES))
    model_dir = root / "model"
    model_dir.mkdir()
    joblib.dump(LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), model_dir / "model.joblib")
    pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)]).to_csv(root / "train.csv", index=False)
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(str(root / "train.csv"), DatasetFormat.csv(header=True), str(root / "baseline"))
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="studio-ep",
        data_capture_config=DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(root / "capture"),
                                              flush_interval_s=0.1),
    )  # fmt: skip
    for _ in range(6):
        predictor.predict(rng.normal(size=(5, N_FEATURES)))
    drifted = rng.normal(size=(200, N_FEATURES))
    drifted[:, 2] += 3.0
    pd.DataFrame(drifted).to_csv(root / "drifted.csv", index=False, header=False)
    reports = root / "reports"
    monitor.run(str(root / "drifted.csv"), str(reports / "drift"), dataset_format=DatasetFormat.csv(header=False))
    clean = pd.DataFrame(rng.normal(size=(200, N_FEATURES)))
    clean.to_csv(root / "clean.csv", index=False, header=False)
    monitor.run(str(root / "clean.csv"), str(reports / "clean"), dataset_format=DatasetFormat.csv(header=False))
    return predictor, reports


def build_platform(root: Path) -> dict[str, Any]:
    job = _train_job(root)
    automl = _automl(root)
    predictor, reports = _serve_and_monitor(root)
    return {"job": job, "automl": automl, "predictor": predictor, "reports": reports}


@contextmanager
def built_platform(root: Path) -> Iterator[dict[str, Any]]:
    """``build_platform(root)``'s result plus ``home`` (the state directory) and ``root``."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SMDBG_HOME", str(root / "home"))
    mp.setenv("SMDBG_TRACKER_URL", f"sqlite:///{root / 'tracker.db'}")
    built = build_platform(root)
    mp.setenv("SMDBG_HOME", str(root / "elsewhere"))  # not where the jobs are: readers must be told
    try:
        yield {**built, "home": root / "home", "root": root}
    finally:
        mp.setenv("SMDBG_HOME", str(root / "home"))  # the endpoint's record is there
        built["predictor"].delete_endpoint()
        mp.undo()
