"""The platform pages' data functions over a real job, AutoML job, endpoint and monitor. The state
directory they read is the one they are given: ``$SMDBG_HOME`` points elsewhere (an empty folder)
while they run."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _studio_platform import built_platform  # noqa: E402

from smdbg.studio._debugger_data import StudioNotFound  # noqa: E402
from smdbg.studio._platform_data import (  # noqa: E402
    PlatformRoots,
    automl_detail,
    automl_notebook,
    automl_table,
    endpoints_table,
    job_detail,
    jobs_table,
    monitor_executions,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*model.joblib is a pickle")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with built_platform(tmp_path_factory.mktemp("platform")) as built:
        yield built


def test_jobs_table_and_detail(platform: dict[str, Any]) -> None:
    home = platform["home"]
    assert jobs_table(Path(os.environ["SMDBG_HOME"])) == []
    rows = jobs_table(home)
    assert [(r["name"], r["status"]) for r in rows] == [("studio-train", "Completed")]
    d = job_detail("studio-train", home)
    assert d["status"] == "Completed" and d["kind"] == "training"
    assert d["metrics"] == {"train:loss": {"algo-1": [1.0, 0.5, 0.3333, 0.25]}}
    assert d["final_metrics"][0]["MetricName"] == "train:loss"
    assert "train_loss=0.2500" in d["logs"]["algo-1"]["text"]
    with pytest.raises(StudioNotFound, match="no job 'nope'"):
        job_detail("nope", home)
    with pytest.raises(StudioNotFound, match="no job"):
        job_detail("../etc", home)
    with pytest.raises(StudioNotFound, match="no job 'studio-train'"):  # not in $SMDBG_HOME
        job_detail("studio-train", Path(os.environ["SMDBG_HOME"]))
    # the platform's own handle takes the state directory too, for every call
    from smdbg.platform.jobs import Job, JobNotFound

    job = Job("studio-train", home)
    assert job.stop()["TrainingJobStatus"] == "Completed" and "algo-1" in job.logs()
    with pytest.raises(JobNotFound, match="no job named 'studio-train' under .*elsewhere"):
        Job("studio-train").describe()


def test_automl_leaderboard_best_and_notebooks(platform: dict[str, Any]) -> None:
    roots = PlatformRoots(automl=[platform["automl"]])
    table = automl_table(roots)
    assert [(r["name"], r["status"], r["candidates"]) for r in table] == [("churn", "Completed", 2)]
    d = automl_detail(roots, table[0]["id"])
    values = [c["value"] for c in d["leaderboard"]]
    assert values == sorted(values, reverse=True) and d["best"]["CandidateName"] == d["leaderboard"][0]["name"]
    assert d["notebooks"] == {"data": True, "candidates": True}
    assert automl_notebook(roots, table[0]["id"], "data").name.endswith("DataExplorationNotebook.ipynb")
    with pytest.raises(StudioNotFound, match="no notebook 'x'"):
        automl_notebook(roots, table[0]["id"], "x")
    with pytest.raises(StudioNotFound, match="no AutoML job"):
        automl_detail(roots, "automl/../../home")


def test_endpoints_and_monitoring(platform: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30  # capture is flushed every 0.1 s by the endpoint
    while True:
        (ep,) = endpoints_table(platform["home"])
        if (ep["volume"] or {}).get("records") == 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ep["name"] == "studio-ep" and ep["status"] == "InService"
    assert ep["volume"]["records"] == 6 and ep["volume"]["files"] >= 1 and ep["volume"]["bytes"] > 0
    execs = monitor_executions(PlatformRoots(monitor=[platform["reports"]]))
    by_id = {e["id"].rsplit("/", 1)[-1]: e for e in execs}
    assert by_id["clean"]["violations"] == [] and by_id["clean"]["items"] == 200
    assert [v["feature_name"] for v in by_id["drift"]["violations"]] == ["f2"]


def test_the_studio_reads_the_platform_root_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smdbg.studio._context import Studio, StudioConfig

    monkeypatch.setenv("SMDBG_HOME", str(tmp_path / "env-home"))
    assert Studio(StudioConfig(platform_root=str(tmp_path / "given"))).platform_root == tmp_path / "given"
    assert Studio(StudioConfig()).platform_root == tmp_path / "env-home"  # the settings' default
    monkeypatch.delenv("SMDBG_HOME")
    assert Studio(StudioConfig()).platform_root == Path.home() / ".smdbg"
