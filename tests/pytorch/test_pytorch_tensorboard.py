"""export_tensorboard=True writes event files that TensorBoard's own reader reads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import smdbg.pytorch as smd


def test_tensorboard_scalars_and_histograms(tmp_path) -> None:
    net, lossf = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(tmp_path / "trial", export_tensorboard=True, tensorboard_dir=str(tmp_path / "tb"),
                    save_config=smd.SaveConfig(save_interval=2), include_collections=["weights", "gradients", "losses"])  # fmt: skip
    hook.get_collection("gradients").reduction_config = smd.ReductionConfig(norms=["l2"])
    hook.register_module(net)
    hook.register_loss(lossf)
    hook.wrap_optimizer(opt)
    losses, norms = {}, {}
    for i in range(5):
        opt.zero_grad()
        loss = lossf(net(batch(i)[0]), batch(i)[1])
        loss.backward()
        losses[i], norms[i] = loss.item(), net.fc1.weight.grad.norm().item()
        opt.step()
    hook.close()
    acc = EventAccumulator(str(tmp_path / "tb" / "worker_0"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "CrossEntropyLoss_output_0" in tags["scalars"]
    assert "gradient/Net_fc1.weight/l2" in tags["scalars"]
    assert "Net_fc1.weight" in tags["histograms"]
    events = acc.Scalars("CrossEntropyLoss_output_0")
    assert [e.step for e in events] == [0, 2, 4]
    assert [e.value for e in events] == pytest.approx([losses[s] for s in (0, 2, 4)], rel=1e-6)
    assert [e.value for e in acc.Scalars("gradient/Net_fc1.weight/l2")] == pytest.approx(
        [norms[s] for s in (0, 2, 4)], rel=1e-5
    )
    hist = acc.Histograms("Net_fc1.weight")[0]
    assert hist.step == 0 and hist.histogram_value.num == net.fc1.weight.numel()
    assert np.isfinite(hist.histogram_value.sum)
