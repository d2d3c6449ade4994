from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from smdbg.store import BackgroundWriter, Record


def test_trial_summary_and_tensor_commands(tmp_path: Path) -> None:
    with BackgroundWriter(tmp_path / "t", "worker_0") as w:
        w.write_trial_metadata({"framework": "pytorch", "num_workers": 1})
        for s in range(3):
            w.add(
                s,
                "TRAIN",
                s,
                [Record("loss", ("losses",), "raw", 3.0 - s, "float32", (), np.float32(3 - s).tobytes())],
            )

    def run(*args: str) -> str:
        cmd = [sys.executable, "-m", "smdbg.cli", "trial", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    out = run("summary", str(tmp_path / "t"))
    assert (
        "framework  pytorch" in out and "3 saved, 0..2" in out and "loss" in out and "ended      yes" in out
    )
    assert run("tensor", str(tmp_path / "t"), "loss").splitlines() == ["0\t3", "1\t2", "2\t1"]
    bad = subprocess.run(
        [sys.executable, "-m", "smdbg.cli", "trial", "summary", str(tmp_path / "none"), "--timeout", "0.2"],
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 2
        and bad.stderr.startswith("smdbg trial: error: no smdbg trial at")
        and "Traceback" not in bad.stderr
    )
