"""CUDA histograms: computed on the device without synchronising it, equal to numpy's.

Run on a GPU machine: ``.venv/bin/pytest -q -m gpu tests/pytorch/test_pytorch_gpu_histograms.py``.
Not run in the session that wrote it (no GPU there): see docs/pytorch.md, *Histograms*.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import smdbg.pytorch as smd
from smdbg.hooks.torch._hist import device_histogram, histogram_of_vector
from smdbg.reductions import compute_histogram

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.sum() == b.sum() and int(np.abs(a - b).sum()) <= 2, (a, b)


@pytest.mark.parametrize("rng", ["minmax", (-1.0, 1.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_device_histogram_without_sync_matches_numpy(rng, dtype) -> None:  # noqa: ANN001
    x = (torch.randn(1 << 20, device="cuda") * 2).to(dtype)
    x[[5, 77, 900]] = torch.tensor([float("nan"), float("inf"), -float("inf")], device="cuda").to(dtype)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        vec = device_histogram(x, 64, rng)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    got = histogram_of_vector(vec.cpu().tolist(), x.numel())
    ref = compute_histogram(x.float().cpu().numpy(), 64, rng)
    np.testing.assert_allclose(got.edges, ref.edges, rtol=1e-6)
    _close(got.counts, ref.counts)
    assert got.outside == ref.outside


def test_hook_histograms_on_cuda_without_sync(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    hook = smd.Hook(str(tmp_path), save_config=smd.SaveConfig(save_interval=2),
                    reduction_config=smd.ReductionConfig(reductions=["mean"], histogram=32, save_raw_tensor=True),
                    include_collections=["weights", "gradients"])  # fmt: skip
    hook.register_module(model)
    hook.wrap_optimizer(opt)
    data = [(torch.randn(16, 32, device="cuda"), torch.randint(0, 10, (16,), device="cuda")) for _ in range(7)]
    opt.zero_grad()
    loss_fn(model(data[0][0]), data[0][1]).backward()
    opt.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for x, y in data[1:]:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    for name in ("Sequential_0.weight", "gradient/Sequential_2.weight"):
        t = trial.tensor(name)
        assert sorted(t.histograms()) == [0, 2, 4, 6]
        for step, (edges, counts) in t.histograms().items():
            ref = compute_histogram(t.value(step), 32)
            np.testing.assert_allclose(edges, ref.edges, rtol=1e-6)
            _close(counts, ref.counts)
