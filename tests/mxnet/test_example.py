"""The example script a new user copies from runs as documented."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.mxnet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_example_runs(tmp_path: object) -> None:
    out = os.path.join(str(tmp_path), "demo")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "mxnet_gluon.py"), "--out-dir", out, "--steps", "12"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "steps with gradients: [0, 5, 10]" in proc.stdout
    assert "gradient/dense0_weight" in proc.stdout
    assert proc.stdout.count("|grad dense0_weight|") == 3
