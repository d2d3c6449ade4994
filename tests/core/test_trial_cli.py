"""``smdbg trial summary|tensor`` as a user runs them (real subprocesses over a real trial)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smdbg.store import BackgroundWriter, Record


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "t"
    with BackgroundWriter(path, "worker_0") as w:
        w.write_trial_metadata({"framework": "pytorch", "num_workers": 1})
        for s in range(3):
            w.add(s, "TRAIN", s, [
                Record("loss", ("losses",), "raw", 3.0 - s, "float32", (), np.float32(3 - s).tobytes()),
                Record("fc.weight", ("weights",), "abs_max", 0.5 + s, "float32", (4, 2), b""),
                Record("fc.weight", ("weights",), "l2", 1.5 + s, "float32", (4, 2), b""),
                Record("fc_output_0", ("outputs",), "raw", float("nan"), "float32", (2, 3),
                       np.arange(6, dtype=np.float32).tobytes()),
            ])  # fmt: skip
    return path


def smdbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smdbg.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_summary(trial: Path) -> None:
    out = smdbg("trial", "summary", str(trial))
    assert out.returncode == 0, out.stderr
    assert (
        "framework  pytorch" in out.stdout
        and "3 saved, 0..2" in out.stdout
        and "ended      yes" in out.stdout
    )


def test_tensor_prints_scalar_values_and_reduction_histories(trial: Path) -> None:
    assert smdbg("trial", "tensor", str(trial), "loss").stdout.splitlines() == ["0\t3", "1\t2", "2\t1"]
    out = smdbg("trial", "tensor", str(trial), "fc.weight", "--reduction", "l2")
    assert out.stdout.splitlines() == ["0\t1.5", "1\t2.5", "2\t3.5"]


def test_tensor_without_reduction_lists_what_is_stored(trial: Path) -> None:
    out = smdbg("trial", "tensor", str(trial), "fc.weight")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "  steps        3 saved (0..2)" in lines
    assert any(
        line.startswith("  abs_max      3 values at steps 0..2 (TRAIN); last value 2.5") for line in lines
    ), lines
    assert any(line.startswith("  l2 ") for line in lines), lines
    assert lines[-1] == f"print one with: smdbg trial tensor {trial} fc.weight --reduction abs_max"
    raw = smdbg("trial", "tensor", str(trial), "fc_output_0").stdout
    assert "raw          3 values at steps 0..2 (TRAIN); whole tensors, shape (2, 3)" in raw, raw
    assert raw.splitlines()[-1].endswith("fc_output_0 --step 2")


def test_tensor_step_prints_the_raw_tensor(trial: Path) -> None:
    out = smdbg("trial", "tensor", str(trial), "fc_output_0", "--step", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "fc_output_0 at step 1: float32 (2, 3)"
    assert "[[0. 1. 2.]" in out.stdout


def test_tensor_in_a_mode_it_was_not_saved_in_says_so(trial: Path) -> None:
    out = smdbg("trial", "tensor", str(trial), "loss", "--mode", "eval")
    assert out.returncode == 2 and out.stdout == ""
    assert "no scalar values in mode EVAL: expected one of the modes it was saved in, TRAIN" in out.stderr


def test_waiting_for_a_trial_says_so_at_once(tmp_path: Path) -> None:
    """The waiting line comes before the wait (read while the command still waits)."""
    proc = subprocess.Popen([sys.executable, "-m", "smdbg.cli", "trial", "summary", str(tmp_path / "later"),
                             "--timeout", "60"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert proc.poll() is None  # still waiting
        assert first.startswith(f"smdbg: no trial at {tmp_path / 'later'} yet; waiting up to 60 s"), first
    finally:
        proc.kill()
        proc.wait()
