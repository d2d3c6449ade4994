"""CUDA: saved steps run without synchronising the device, and the values are right.

Run on a GPU machine: ``.venv/bin/pytest -q -m gpu tests/pytorch/test_pytorch_gpu.py`` (< 60 s).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import smdbg.pytorch as smd

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))


def _run(tmp_path, reduction_config, steps=12):  # noqa: ANN001, ANN202
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = ConvNet().to(dev)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=2), reduction_config=reduction_config,
                    include_collections=["weights", "biases", "gradients", "losses", "outputs", "optimizer_variables"])  # fmt: skip
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    data = [
        (torch.randn(16, 3, 8, 8, device=dev), torch.randint(0, 10, (16,), device=dev)) for _ in range(steps)
    ]
    refs = []
    # warm-up step outside the check (cuDNN autotuning, allocator, pinned pool)
    opt.zero_grad()
    loss_fn(model(data[0][0]), data[0][1]).backward()
    opt.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for x, y in data[1:]:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            w = model.conv.weight.detach().clone()
            g = model.conv.weight.grad.detach().clone()
            opt.step()
            refs.append(
                (w, g, loss.detach().clone(), opt.state[model.conv.weight]["momentum_buffer"].clone())
            )
    finally:
        torch.cuda.set_sync_debug_mode(0)
    hook.close()
    return smd.create_trial(tmp_path), refs


def test_cuda_reductions_without_device_sync(tmp_path) -> None:
    rc = smd.ReductionConfig(
        reductions=["mean", "min", "max", "std"], abs_reductions=["max"], norms=["l1", "l2"]
    )
    trial, refs = _run(tmp_path, rc)
    assert trial.steps() == [0, 2, 4, 6, 8, 10]
    for step in (2, 4, 10):
        w, g, _, _ = refs[step - 1]
        wt, gt = trial.tensor("ConvNet_conv.weight"), trial.tensor("gradient/ConvNet_conv.weight")
        assert wt.reduction_value(step, "l2") == pytest.approx(w.norm().item(), rel=1e-5)
        assert wt.reduction_value(step, "mean") == pytest.approx(w.mean().item(), rel=1e-4, abs=1e-7)
        assert wt.reduction_value(step, "std") == pytest.approx(w.std(correction=0).item(), rel=1e-4)
        assert gt.reduction_value(step, "max", abs=True) == pytest.approx(g.abs().max().item(), rel=1e-6)
        assert gt.reduction_value(step, "min") == pytest.approx(g.min().item(), rel=1e-6)
        assert gt.reduction_value(step, "l1") == pytest.approx(g.abs().sum().item(), rel=1e-5)
    assert trial.tensor("fc_output_0").steps() == [0, 2, 4, 6, 8, 10]


def test_cuda_raw_tensors_without_device_sync(tmp_path) -> None:
    trial, refs = _run(tmp_path, None)
    for step in (2, 6, 10):
        w, g, loss, mom = refs[step - 1]
        np.testing.assert_array_equal(trial.tensor("ConvNet_conv.weight").value(step), w.cpu().numpy())
        np.testing.assert_array_equal(
            trial.tensor("gradient/ConvNet_conv.weight").value(step), g.cpu().numpy()
        )
        np.testing.assert_array_equal(
            trial.tensor("SGD_ConvNet_conv.weight_momentum_buffer").value(step), mom.cpu().numpy()
        )
        assert float(trial.tensor("CrossEntropyLoss_output_0").value(step)) == pytest.approx(loss.item())


def test_cuda_flat_segment_reductions_match_numpy() -> None:
    """The segmented reductions of many tensors (the saved-step path on a GPU) give numpy's
    values, NaN included, and launch nothing that waits for the device."""
    from smdbg.hooks.torch._flat import FLAT_KEYS, SegmentLayouts, flat_reductions
    from smdbg.reductions import compute_reductions

    g = torch.Generator(device="cuda").manual_seed(0)
    ts = [torch.randn(s, device="cuda", generator=g) for s in [(512, 512), (512,), (3, 7), (2,), (1000, 33)]]
    ts[2][1, 1] = float("nan")
    keys = sorted(FLAT_KEYS)
    layouts = SegmentLayouts()
    flat_reductions(ts, keys, layouts)  # the layout's first use copies the lengths once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        got = flat_reductions(ts, keys, layouts)
        half = flat_reductions([t.bfloat16() for t in ts], ["mean", "abs_max", "l2"], layouts)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    got, half = got.cpu(), half.cpu()
    for j, t in enumerate(ts):
        want = compute_reductions(t.double().cpu().numpy(), keys)
        for i, key in enumerate(keys):
            assert got[i, j].item() == pytest.approx(want[key], rel=1e-4, abs=1e-6, nan_ok=True), (j, key)
        want = compute_reductions(t.bfloat16().double().cpu().numpy(), ["mean", "abs_max", "l2"])
        assert half[:, j].tolist() == pytest.approx(
            [want["mean"], want["abs_max"], want["l2"]], rel=1e-2, abs=1e-3, nan_ok=True
        )
