"""End to end: a real endpoint captures traffic; drift injected into traffic is reported, clean traffic not."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from conftest_serving import N_FEATURES, make_sklearn_model, smdbg_home

from smdbg.platform.monitor import CronExpressionGenerator, DatasetFormat, DefaultModelMonitor
from smdbg.platform.serving import DataCaptureConfig, Model

__all__ = ["smdbg_home"]


def test_drift_in_endpoint_traffic_is_reported(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, _, X_train = make_sklearn_model(tmp_path / "model")
    names = [f"f{i}" for i in range(N_FEATURES)]
    pd.DataFrame(X_train, columns=names).to_csv(tmp_path / "train.csv", index=False)
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(
        str(tmp_path / "train.csv"), DatasetFormat.csv(header=True), str(tmp_path / "baseline")
    )

    dest = tmp_path / "capture"
    predictor = Model(str(model_dir)).deploy(
        endpoint_name="monitored",
        data_capture_config=DataCaptureConfig(
            sampling_percentage=100, destination_s3_uri=str(dest), flush_interval_s=0.2
        ),
    )
    rng = np.random.default_rng(11)
    try:
        monitor.create_monitoring_schedule(
            "drift-watch",
            predictor,
            str(tmp_path / "reports"),
            schedule_cron_expression=CronExpressionGenerator.hourly(),
            start=False,
        )
        for _ in range(40):  # clean traffic, 5 rows per request
            predictor.predict(rng.normal(size=(5, N_FEATURES)))
        time.sleep(0.01)  # capture times have millisecond resolution
        t_clean = dt.datetime.now(dt.timezone.utc)
        time.sleep(0.01)
        for _ in range(40):  # drifted traffic: feature f2 shifted by 3 standard deviations
            rows = rng.normal(size=(5, N_FEATURES))
            rows[:, 2] += 3.0
            predictor.predict(rows)
    finally:
        predictor.delete_endpoint()  # flushes capture

    clean = monitor.run(predictor, str(tmp_path / "clean"), end_time=t_clean)
    assert clean.item_count == 200 and clean.violations == []
    drifted = monitor.run(predictor, str(tmp_path / "drift"), start_time=t_clean)
    assert drifted.item_count == 200
    assert [(v["feature_name"], v["constraint_check_type"]) for v in drifted.violations] == [
        ("f2", "baseline_drift_check")
    ]
    report = json.loads((tmp_path / "drift" / "constraint_violations.json").read_text())
    assert report["violations"][0]["description"].startswith("Baseline drift distance")

    execution = monitor.run_pending_execution()  # the schedule sees all 400 captured rows
    assert execution is not None and execution.item_count == 400
    assert {v["feature_name"] for v in execution.violations} == {"f2"}
