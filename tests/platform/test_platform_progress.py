"""Long platform work shows progress on stderr when asked (a terminal by default), and nothing in
a pipe or file by default: AutoML searches and monitor baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smdbg.platform.automl import AutoML
from smdbg.platform.monitor import DatasetFormat, DefaultModelMonitor


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [1.0, -2.0, 0.5]}).to_csv(
        path, index=False
    )
    return path


def test_automl_progress(csv: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def fit(job: str, progress: bool | None) -> str:
        AutoML("y", max_candidates=2, output_path=tmp_path / "out", algorithms=["linear"], ensemble=False,
               generate_notebooks=False, tracker_db_url=f"sqlite:///{tmp_path / 't.db'}").fit(
            str(csv), job_name=job, logs=False, progress=progress)  # fmt: skip
        return capfd.readouterr().err

    assert fit("quiet", None) == ""  # stderr is not a terminal here
    shown = fit("shown", True).splitlines()
    assert shown[0].startswith("AutoML shown: 0/2 candidates (0%) searching"), shown
    assert any(line.startswith("AutoML shown: 2/2 candidates (100%)") and "best" in line for line in shown), (
        shown
    )


def test_monitor_baseline_progress(csv: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    monitor = DefaultModelMonitor()
    monitor.suggest_baseline(str(csv), DatasetFormat.csv(), str(tmp_path / "quiet"))
    assert capfd.readouterr().err == ""
    monitor.suggest_baseline(str(csv), DatasetFormat.csv(), str(tmp_path / "shown"), progress=True)
    err = capfd.readouterr().err
    assert err.startswith(f"baseline: 0 columns reading {csv}"), err
