"""Baseline statistics/constraints, violations, old spellings, bad input, cron parsing, schedules."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from smdbg.platform.monitor import (
    ConstraintsError,
    CronExpressionGenerator,
    DatasetError,
    DatasetFormat,
    DefaultModelMonitor,
    LocalScheduler,
    Schedule,
    ScheduleError,
    compute_statistics,
    linf_distance,
    parse_schedule,
    robust,
)
from smdbg.platform.serving import DataCaptureConfig
from smdbg.platform.serving._capture_writer import CaptureWriter

UTC = dt.timezone.utc


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 10.0, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
        }
    )


@pytest.fixture
def baseline(tmp_path: Path) -> tuple[DefaultModelMonitor, Path, pd.DataFrame]:
    df = _frame(4000)
    df.to_csv(tmp_path / "train.csv", index=False)
    monitor = DefaultModelMonitor(role="ignored", instance_type="ml.m5.xlarge")
    monitor.suggest_baseline(
        str(tmp_path / "train.csv"), DatasetFormat.csv(header=True), str(tmp_path / "baseline")
    )
    return monitor, tmp_path, df


def test_statistics_schema_and_values(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("i,f,s,u\n1,1.5,a,\n2,,b,\n3,2.5,a,\n-4,3.0,,\n")
    monitor = DefaultModelMonitor()
    job = monitor.suggest_baseline(str(tmp_path / "d.csv"), DatasetFormat.csv(), str(tmp_path / "out"))
    stats = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert stats == job.baseline_statistics()
    assert stats["version"] == 0 and stats["dataset"] == {"item_count": 4}
    f = {x["name"]: x for x in stats["features"]}
    assert [x["inferred_type"] for x in stats["features"]] == ["Integral", "Fractional", "String", "Unknown"]
    num = f["i"]["numerical_statistics"]
    assert num["common"] == {"num_present": 4, "num_missing": 0}
    assert (num["sum"], num["mean"], num["min"], num["max"]) == (2.0, 0.5, -4.0, 3.0)
    assert math.isclose(num["std_dev"], float(np.std([1, 2, 3, -4])))
    kll = num["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(b["count"] for b in kll["buckets"]) == 4
    assert kll["buckets"][0]["lower_bound"] == -4.0 and kll["buckets"][-1]["upper_bound"] == 3.0
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048}
    assert sorted(kll["sketch"]["data"][0]) == [-4.0, 1.0, 2.0, 3.0]
    assert f["f"]["numerical_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    s = f["s"]["string_statistics"]
    assert s["common"] == {"num_present": 3, "num_missing": 1} and s["distinct_count"] == 2
    assert s["distribution"]["categorical"]["buckets"] == [
        {"value": "a", "count": 2},
        {"value": "b", "count": 1},
    ]
    cons = json.loads((tmp_path / "out" / "constraints.json").read_text())
    c = {x["name"]: x for x in cons["features"]}
    assert c["i"] == {
        "name": "i",
        "inferred_type": "Integral",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": False},
    }
    assert c["f"]["completeness"] == 0.75 and c["f"]["num_constraints"] == {"is_non_negative": True}
    assert c["u"]["inferred_type"] == "Unknown"
    mc = cons["monitoring_config"]
    assert (
        mc["datatype_check_threshold"] == 0.1
        and mc["distribution_constraints"]["comparison_method"] == "Robust"
    )


def test_kll_sketch_matches_datasketches_quantiles(tmp_path: Path) -> None:
    values = np.random.default_rng(3).exponential(size=200_000)
    stats = compute_statistics(pa.table({"x": values}))
    sketch = stats["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"]
    assert len(sketch["data"]) > 1  # several compactor levels
    weights = sum(len(level) * 2**i for i, level in enumerate(sketch["data"]))
    assert abs(weights - len(values)) <= 2 ** (len(sketch["data"]) - 1)
    d, n, m = linf_distance(sketch, sketch)
    assert d == 0.0
    items = np.sort(values)
    exact = {"data": [items.tolist()], "parameters": {"c": 0.64, "k": 2048}}
    d, _, _ = linf_distance(sketch, exact)
    assert d < 0.01  # KLL k=2048 rank error is far below 1%


def test_robust_is_deequs_ks_allowance() -> None:
    assert robust(0.5, 1000, 100) == pytest.approx(0.5 - 1.8 * math.sqrt(1100 / 100000))
    assert robust(0.05, 100, 100) == 0.0


def test_clean_data_has_no_violations(baseline: tuple[DefaultModelMonitor, Path, pd.DataFrame]) -> None:
    monitor, tmp, _ = baseline
    _frame(600, seed=9).to_csv(tmp / "clean.csv", index=False)
    execution = monitor.run(str(tmp / "clean.csv"), str(tmp / "run"), dataset_format=DatasetFormat.csv())
    assert execution.violations == []
    assert json.loads((tmp / "run" / "constraint_violations.json").read_text()) == {"violations": []}
    assert json.loads((tmp / "run" / "statistics.json").read_text())["dataset"]["item_count"] == 600


def test_each_check_type_is_reported(baseline: tuple[DefaultModelMonitor, Path, pd.DataFrame]) -> None:
    monitor, tmp, _ = baseline
    cur = _frame(600, seed=9)
    cur["income"] = cur["income"] + 25.0  # drift
    cur.loc[:299, "city"] = "lima"  # half outside the domain
    cur["age"] = cur["age"].astype(str)
    cur.loc[:199, "age"] = "unknown"  # a third not Integral
    cur = cur.drop(columns=[]).assign(extra=1.0)
    cur.loc[:99, "income"] = np.nan  # incomplete
    cur.to_csv(tmp / "bad.csv", index=False)
    out = monitor.run(str(tmp / "bad.csv"), str(tmp / "run2"), dataset_format=DatasetFormat.csv())
    found = {(v["feature_name"], v["constraint_check_type"]) for v in out.violations}
    assert found == {
        ("income", "baseline_drift_check"),
        ("income", "completeness_check"),
        ("city", "categorical_values_check"),
        ("city", "baseline_drift_check"),
        ("age", "data_type_check"),
        ("extra", "extra_column_check"),
    }
    cur.drop(columns=["city", "extra"]).to_csv(tmp / "missing.csv", index=False)
    out = monitor.run(str(tmp / "missing.csv"), str(tmp / "run3"), dataset_format=DatasetFormat.csv())
    assert ("city", "missing_column_check") in {
        (v["feature_name"], v["constraint_check_type"]) for v in out.violations
    }


def test_simple_vs_robust_and_old_spellings(baseline: tuple[DefaultModelMonitor, Path, pd.DataFrame]) -> None:
    monitor, tmp, _ = baseline
    cur = _frame(60, seed=4)
    cur["income"] = cur["income"] + 3.0  # a small shift on a small sample
    cur.to_csv(tmp / "small.csv", index=False)
    cons = monitor.suggested_constraints()
    old = {
        "version": 0,
        "features": [
            {"name": f["name"], "inferredType": f["inferred_type"].lower(), "completeness": f["completeness"]}
            for f in cons["features"]
        ],
        "monitoringConfig": {
            "datatypeCheckThreshold": 0.1,
            "distributionConstraints": {"comparsionThreshold": 0.1, "comparisonMethod": "Simple"},
        },
    }
    (tmp / "old.json").write_text(json.dumps(old))
    simple = monitor.run(
        str(tmp / "small.csv"),
        str(tmp / "s"),
        constraints=str(tmp / "old.json"),
        dataset_format=DatasetFormat.csv(),
    )
    assert ("income", "baseline_drift_check") in {
        (v["feature_name"], v["constraint_check_type"]) for v in simple.violations
    }
    robust_run = monitor.run(str(tmp / "small.csv"), str(tmp / "r"), dataset_format=DatasetFormat.csv())
    assert robust_run.violations == []  # 60 rows: the KS allowance (~0.23) absorbs the shift


def test_bad_input_is_reported_and_nothing_half_written(tmp_path: Path) -> None:
    monitor = DefaultModelMonitor()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    for name in ("empty.csv", "header.csv"):
        with pytest.raises(DatasetError, match="has no rows"):
            monitor.suggest_baseline(str(tmp_path / name), DatasetFormat.csv(), str(tmp_path / "out"))
    with pytest.raises(DatasetError, match="does not exist"):
        monitor.suggest_baseline(str(tmp_path / "nope.csv"), DatasetFormat.csv(), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    _frame(50).to_csv(tmp_path / "ok.csv", index=False)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ConstraintsError, match="not valid JSON"):
        monitor.run(
            str(tmp_path / "ok.csv"),
            str(tmp_path / "r"),
            constraints=str(tmp_path / "broken.json"),
            dataset_format=DatasetFormat.csv(),
        )
    (tmp_path / "badtype.json").write_text(
        json.dumps({"features": [{"name": "a", "inferred_type": "Complex"}]})
    )
    with pytest.raises(ConstraintsError, match="'Complex'"):
        monitor.run(
            str(tmp_path / "ok.csv"),
            str(tmp_path / "r"),
            constraints=str(tmp_path / "badtype.json"),
            dataset_format=DatasetFormat.csv(),
        )
    assert not (tmp_path / "r").exists()


def test_cron_parsing() -> None:
    at = dt.datetime(2024, 5, 1, 10, 17, 30, tzinfo=UTC)  # a Wednesday
    assert parse_schedule(CronExpressionGenerator.hourly()).next_after(at) == at.replace(
        hour=11, minute=0, second=0
    )
    assert parse_schedule(CronExpressionGenerator.daily(6)).next_after(at) == dt.datetime(
        2024, 5, 2, 6, 0, tzinfo=UTC
    )
    assert parse_schedule("cron(*/15 * ? * * *)").next_after(at) == at.replace(minute=30, second=0)
    assert parse_schedule("cron(0 9 ? * MON-FRI *)").next_after(
        dt.datetime(2024, 5, 3, 12, tzinfo=UTC)
    ) == dt.datetime(2024, 5, 6, 9, tzinfo=UTC)
    assert parse_schedule("cron(0 0 1 JAN,JUL ? *)").next_after(at) == dt.datetime(2024, 7, 1, tzinfo=UTC)
    assert parse_schedule("cron(0 0/6 ? * * *)").next_after(at) == at.replace(hour=12, minute=0, second=0)
    assert parse_schedule("rate(2 hours)").next_after(at) == at + dt.timedelta(hours=2)
    for bad, msg in [
        ("cron(0 * * *)", "has 4 fields"),
        ("cron(61 * ? * * *)", "minutes value '61'"),
        ("cron(0 * ? FOO * *)", "month value 'FOO'"),
        ("every hour", "expected 'cron("),
        ("cron(0 0 30 2 ? *)", "never fires"),
    ]:
        with pytest.raises(ScheduleError, match=re.escape(msg)):
            parse_schedule(bad).next_after(at)


def _capture(dest: Path, rows: np.ndarray) -> None:
    writer = CaptureWriter(DataCaptureConfig(sampling_percentage=100, destination_s3_uri=str(dest)), "ep")
    for row in rows:
        writer.submit(",".join(f"{v:.6f}" for v in row).encode(), "text/csv", b"1", "text/csv", None)
    writer.close()


def test_schedule_runs_on_captured_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(3000, 2)), columns=["x0", "x1"]).to_csv(tmp_path / "train.csv", index=False)
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(str(tmp_path / "train.csv"), DatasetFormat.csv(), str(tmp_path / "baseline"))
    capture = tmp_path / "capture"
    monitor.create_monitoring_schedule("hourly-check", str(capture / "ep"), str(tmp_path / "reports"),
                                       schedule_cron_expression=CronExpressionGenerator.hourly(), start=False)  # fmt: skip
    assert monitor.describe_schedule()["ScheduleExpression"] == "cron(0 * ? * * *)"
    _capture(capture, rng.normal(size=(300, 2)))
    first = monitor.run_pending_execution()
    assert first is not None and first.item_count == 300 and first.violations == []
    drifted = rng.normal(size=(300, 2))
    drifted[:, 1] += 2.0
    _capture(capture, drifted)
    second = monitor.run_pending_execution()
    assert second is not None and second.item_count == 300  # only the records since the first run
    assert [(v["feature_name"], v["constraint_check_type"]) for v in second.violations] == [
        ("x1", "baseline_drift_check")
    ]
    written = sorted(
        p.relative_to(tmp_path / "reports").as_posix() for p in (tmp_path / "reports").rglob("*.json")
    )
    assert len(written) == 4 and all(p.startswith("hourly-check/") for p in written)
    monitor.delete_monitoring_schedule()


def test_background_scheduler_fires() -> None:
    calls: list[tuple[dt.datetime, dt.datetime]] = []
    sched = LocalScheduler(
        Schedule("every 0.2s", interval=dt.timedelta(seconds=0.2)), lambda a, b: calls.append((a, b))
    )
    sched.start()
    deadline = time.monotonic() + 60
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sched.stop()
    assert len(calls) >= 2 and calls[0][1] == calls[1][0]  # consecutive windows
