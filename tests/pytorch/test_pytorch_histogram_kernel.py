"""The compiled counting loop of CPU histograms (``smdbg.hooks.torch._bins_kernel``): its
setting, and its guard against values outside the bins. That its counts equal ``np.histogram``'s
is tested, with the numpy passes' counts, in ``test_pytorch_histogram_exact.py``."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import smdbg.pytorch as smd
from smdbg.hooks.torch._bins import _fit, uniform_edges_many
from smdbg.hooks.torch._bins_kernel import count_kernel, kernel_name


def test_the_kernel_setting_is_checked_when_the_hook_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "fast")
    with pytest.raises(ValueError, match=r"SMDBG_HISTOGRAM_KERNEL='fast': expected one of auto, numba, numpy"):
        smd.Hook(str(tmp_path / "t"))
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "auto")
    assert kernel_name() == ("numba" if importlib.util.find_spec("numba") else "numpy")


def test_a_position_beyond_the_last_bin_is_an_error_not_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # the caller's contract (values within their limits) broken: the compiled loop says so
    # instead of folding the value into a bin (the numpy passes are not given such values)
    pytest.importorskip("numba")
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "numba")
    kernel = count_kernel()
    assert kernel is not None
    x = np.array([0.0, 0.5, 1.0, 3.0], np.float32)
    for bins in (8, 300):
        with pytest.raises(ValueError, match="1 values beyond the upper edge"):
            kernel.count(x, 0.0, bins / 1.0, bins)
        with pytest.raises(ValueError, match="1 values beyond the upper edge"):  # small tensors, packed
            kernel.count_packed(np.concatenate([x[:3], x]), np.array([3, 4]), np.zeros(2), np.full(2, bins / 1.0), bins)
        half = [1] + [0] * (bins // 2 - 1)
        assert kernel.count(x[:3], 0.0, bins / 1.0, bins).tolist() == half + half + [1]
        packed = kernel.count_packed(np.concatenate([x[:3], x[:2]]), np.array([3, 2]), np.zeros(2), np.full(2, bins / 1.0), bins)
        assert packed.tolist() == [half + half + [1], half + [1] + [0] * (bins // 2)]


def test_numba_asked_for_and_missing_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "numba")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba" else _find(name, *a))
    with pytest.raises(ImportError, match="SMDBG_HISTOGRAM_KERNEL=numba but numba is not installed"):
        kernel_name()
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "auto")
    assert kernel_name() == "numpy"  # auto: the numpy passes


_find = importlib.util.find_spec



_AUTO = """
import os, time, numpy as np, torch
from smdbg.hooks.torch import _bins_kernel
from smdbg.hooks.torch._hist import cpu_histograms
x = torch.randn(100_000, generator=torch.Generator().manual_seed(1))
want = np.histogram(x.double().numpy(), bins=64)[0]
with _bins_kernel._LOCK:  # the build waits for it: a call that waited for numba would hang here
    first = cpu_histograms([(x, 64, "minmax", None)])[0].counts  # starts the background load
    assert not _bins_kernel.loaded()
deadline = time.monotonic() + 300  # only to keep a broken load finite
while not _bins_kernel.loaded():
    assert time.monotonic() < deadline, "the compiled loop never loaded"
    assert np.array_equal(cpu_histograms([(x, 64, "minmax", None)])[0].counts, want)
    time.sleep(0.05)
assert np.array_equal(first, want)
assert np.array_equal(cpu_histograms([(x, 64, "minmax", None)])[0].counts, want)
print("ok")
"""


def test_auto_loads_numba_in_the_background_and_counts_the_same_meanwhile() -> None:
    # a fresh process: the first histograms are counted by the numpy passes while numba loads
    # on its thread, then by the compiled loop; the counts are numpy's throughout
    pytest.importorskip("numba")
    env = {**os.environ, "SMDBG_HISTOGRAM_KERNEL": "auto"}
    out = subprocess.run([sys.executable, "-c", _AUTO], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_the_compiled_fit_chooses_what_numpy_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same scale (plain or nudged) and the same windows, tensor for tensor, on limits where
    # the plain scale fits, where edges fall within 1e-16 of a float32 value, and random ones
    pytest.importorskip("numba")
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", "numba")
    kernel = count_kernel()
    assert kernel is not None
    g = np.random.default_rng(3)
    limits = [(-0.025252483785152435, 0.0252525731921196), (-1.0, 1.0), (-50.0, 50.0), (0.1, 0.7), (3.0, 3.0 + 2**-20)]
    limits += [tuple(sorted(map(float, g.standard_normal(2).astype(np.float32)))) for _ in range(200)]
    for bins in (7, 64, 100, 300):
        edges = uniform_edges_many(limits, bins)
        assert _fit(limits, edges, bins, kernel) == _fit(limits, edges, bins)
    odd = [fit for fit in _fit(limits, uniform_edges_many(limits, 100), 100) if fit is None or fit[1]]
    assert odd  # the tricky limits do need windows or numpy's counting: the comparison covers them


_READ_ONLY = """
import numpy as np, torch, smdbg
from smdbg.hooks.torch import _bins_kernel
from smdbg.hooks.torch._hist import cpu_histograms
assert smdbg.__file__.startswith("ROOT"), smdbg.__file__
x = torch.randn(100_000, generator=torch.Generator().manual_seed(1))
want = np.histogram(x.double().numpy(), bins=64)[0]
assert np.array_equal(cpu_histograms([(x, 64, "minmax", None)])[0].counts, want)
assert _bins_kernel.loaded()
print("ok")
"""


def test_without_a_writable_cache_the_loops_are_compiled_for_the_process(tmp_path: Path) -> None:
    # a read-only install and no cache folder: numba cannot cache; the loops still compile
    pytest.importorskip("numba")
    src = Path(smd.__file__).resolve().parent.parent / "smdbg"
    copy = shutil.copytree(src, tmp_path / "smdbg", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "hooks" / "torch" / "__pycache__").write_text("")  # a file: no cache folder can be made there
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": "/dev/null/none", "HOME": "/dev/null",
           "PYTHONDONTWRITEBYTECODE": "1", "SMDBG_HISTOGRAM_KERNEL": "numba"}  # fmt: skip
    code = _READ_ONLY.replace("ROOT", str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
    assert "cannot cache the counting loops here" not in out.stdout  # logged at INFO, not printed
