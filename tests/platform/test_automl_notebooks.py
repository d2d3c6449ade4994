"""The two generated notebooks execute cleanly on a real Jupyter kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from smdbg.platform.automl import AutoML


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("nb")
    rng = np.random.default_rng(0)
    n = 150
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, x),
            "kind": rng.choice(["a", "b", "c"], n),
            "label": np.where(x + rng.normal(scale=0.5, size=n) > 0, "up", "down"),
        }
    )
    automl = AutoML(
        "label",
        max_candidates=2,
        total_job_runtime_in_seconds=30,
        output_path=root / "out",
        algorithms=["linear", "hist_gradient_boosting"],
        tracker_db_url=f"sqlite:///{root / 'tracker.db'}",
    )
    automl.fit(frame, job_name="nb-job", logs=False)
    artifacts = automl.describe_auto_ml_job()["AutoMLJobArtifacts"]
    return {
        "exploration": artifacts["DataExplorationNotebookLocation"],
        "candidates": artifacts["CandidateDefinitionNotebookLocation"],
    }


def _execute(path: str) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(Path(path).parent)}}
    ).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict[str, object]]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_exploration_notebook_runs_with_plots(notebooks: dict[str, str]) -> None:
    nb = _execute(notebooks["exploration"])
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]  # type: ignore[operator]
    assert len(images) >= 3  # missing values, target, numeric histograms
    assert (Path(notebooks["exploration"]).parent / "plots" / "target.png").exists()


def test_candidate_notebook_reruns_the_search(notebooks: dict[str, str]) -> None:
    nb = _execute(notebooks["candidates"])
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    texts = "\n".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)  # type: ignore[union-attr]
    assert "'Completed'" in texts  # the re-run job's status
    assert "Pipeline" in texts  # a candidate's pipeline definition
    reruns = list(Path(notebooks["candidates"]).parents[2].glob("nb-job-rerun-*"))
    assert len(reruns) == 1 and (reruns[0] / "best_model" / "model.joblib").exists()
