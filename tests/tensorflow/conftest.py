"""TensorFlow test fixtures: graph-mode scenarios run once in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def graph_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Run tests/tensorflow/_graph_scenarios.py (graph mode is process-wide) and yield
    (base dir of its trials, its results.json)."""
    base = tmp_path_factory.mktemp("tf_graph")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(HERE.parent.parent)}
    proc = subprocess.run([sys.executable, str(HERE / "_graph_scenarios.py"), str(base)],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    yield base, json.loads((base / "results.json").read_text())
