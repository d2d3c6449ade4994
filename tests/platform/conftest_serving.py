"""Helpers and fixtures for the serving and monitor tests (imported by those test modules).

pytest loads only ``conftest.py`` files by itself; test modules import from this one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

N_FEATURES = 4


def make_sklearn_model(directory: Path, seed: int = 0) -> tuple[Path, Any, np.ndarray]:
    """A fitted LogisticRegression saved as ``model.joblib``; returns (dir, model, training X)."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, N_FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / "model.joblib")
    return directory, model, X


def read_capture_records(root: Path) -> list[dict[str, Any]]:
    records = []
    for f in sorted(root.rglob("*.jsonl")):
        records.extend(json.loads(line) for line in f.read_text().splitlines() if line)
    return records


@pytest.fixture
def smdbg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smdbg-home"
    monkeypatch.setenv("SMDBG_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """SMDBG_HOME for a whole module (for module-scoped endpoints); endpoints left are deleted."""
    home = tmp_path_factory.mktemp("smdbg-home")
    saved = os.environ.get("SMDBG_HOME")
    os.environ["SMDBG_HOME"] = str(home)
    try:
        yield home
    finally:
        from smdbg.platform.serving import delete_endpoint, list_endpoints

        for ep in list_endpoints():
            delete_endpoint(ep["name"])
        if saved is None:
            os.environ.pop("SMDBG_HOME", None)
        else:
            os.environ["SMDBG_HOME"] = saved
