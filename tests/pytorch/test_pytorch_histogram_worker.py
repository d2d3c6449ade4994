"""CPU histograms counted on the histogram worker thread (smdbg.hooks.torch._hist_worker): the
same trial as counting them inline, bounded (a lagging worker means inline counting, not a
queue), waited for at close, a failure in the worker costs that step's histograms only."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn

import smdbg.pytorch as smd
from smdbg.exceptions import TensorUnavailableForStep
from smdbg.hooks._plan import TensorPlan
from smdbg.hooks.torch import _hist_worker
from smdbg.hooks.torch._capture import StepCapture
from smdbg.hooks.torch._hist import cpu_histograms
from smdbg.reductions import HISTOGRAM

RC = smd.ReductionConfig(reductions=["mean", "max"], norms=["l2"], histogram=16)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _train(out: Path, steps: int = 7, rc: smd.ReductionConfig = RC) -> Any:
    """Train on the CPU with a hook saving histograms every 2 steps; the closed hook."""
    torch.manual_seed(0)
    net, loss_fn = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(str(out), save_config=smd.SaveConfig(save_interval=2), reduction_config=rc,
                    include_collections=["weights", "biases", "gradients", "losses"])  # fmt: skip
    hook.register_module(net)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(torch.randn(8, 2, 8, 8)), torch.randint(0, 3, (8,))).backward()
        opt.step()
    hook.close()
    return hook


def _contents(path: Path) -> dict[str, Any]:
    """Every tensor's steps, scalar reductions and histograms, read through the trial API."""
    trial = smd.create_trial(str(path))
    out: dict[str, Any] = {}
    for name in trial.tensor_names():
        t = trial.tensor(name)
        steps = t.steps()
        out[name] = (
            steps,
            [sorted(t.reduction_values(s).items()) for s in steps],
            {s: (e.tolist(), c.tolist()) for s, (e, c) in t.histograms().items()},
        )
    return out


def test_worker_and_inline_give_the_same_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", "1")
    hook = _train(tmp_path / "worker")
    worker = hook._pipe.capture.worker
    # steps 0, 2, 4, 6: each one batch on the worker, or counted inline where two were in flight
    assert worker is not None and 2 <= worker.batches <= 4
    monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", "0")
    assert _train(tmp_path / "inline")._pipe.capture.worker is None
    got, want = _contents(tmp_path / "worker"), _contents(tmp_path / "inline")
    assert got == want
    hists = got["gradient/Net_conv.weight"][2]
    assert list(hists) == [0, 2, 4, 6] and sum(hists[6][1]) == 4 * 2 * 3 * 3  # the last one waited for at close
    assert len([n for n in got if got[n][2]]) == 8  # weights, biases and their gradients


def test_bad_setting_names_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", "sometimes")
    with pytest.raises(ValueError, match=r"SMDBG_HISTOGRAM_WORKER='sometimes': expected 1 .* or 0"):
        smd.Hook(str(tmp_path / "t"))


def test_a_lagging_worker_means_inline_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    release = _hold_worker(monkeypatch)
    plan = TensorPlan(("weights",), ("mean",), False, False, (8, "minmax"))
    cap = StepCapture()
    g = torch.Generator().manual_seed(3)
    pendings, originals = [], []
    for step in range(3):
        x = torch.randn(5000, generator=g)
        originals.append(x.clone())
        cap.add([("w", plan, x)])
        x.add_(100.0)  # the step goes on changing the tensor: the worker counts the copy
        pendings.append(cap.finish((step, "TRAIN", step)))
    assert [p.in_flight for p in pendings] == [True, True, False]  # two batches at most, then inline
    assert not pendings[0].ready()
    if sys.platform.startswith("linux"):  # the worker thread (only) is niced: training goes first
        (thread,) = [t for t in threading.enumerate() if t.name.startswith("smdbg-histograms")]
        assert thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) >= _hist_worker.WORKER_NICE
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < _hist_worker.WORKER_NICE
    release.set()
    for p, x in zip(pendings, originals):
        p.wait()
        assert p.ready()
        ((_, _, _, red, _, _),) = list(p.items())
        (ref,) = cpu_histograms([(x, 8, "minmax", None)])
        np.testing.assert_array_equal(red[HISTOGRAM].counts, ref.counts)
        np.testing.assert_array_equal(red[HISTOGRAM].edges, ref.edges)
        assert red["mean"] == pytest.approx(float(x.mean()))
        assert not p.errors
    cap.close()
    cap.close()  # idempotent


def test_a_failure_in_the_worker_costs_that_steps_histograms_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(jobs: Any) -> Any:
        raise RuntimeError("counting failed on purpose")

    monkeypatch.setattr(_hist_worker, "_count", broken)
    monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", "1")
    with caplog.at_level(logging.ERROR, logger="smdbg"):
        hook = _train(tmp_path / "t", steps=4)  # training is not interrupted
    assert hook.error_count == 2  # steps 0 and 2
    assert "histograms of step 0 (histogram worker)" in caplog.text and "counting failed on purpose" in caplog.text
    t = smd.create_trial(str(tmp_path / "t")).tensor("Net_fc.weight")
    assert t.steps() == [0, 2] and ("mean", False) in t.reduction_values(2)  # the reductions are saved
    with pytest.raises(TensorUnavailableForStep):
        t.histogram(2)


@pytest.mark.parametrize("rng", ["minmax", (-1.0, 1.0)])
def test_odd_tensors_count_the_same_on_the_worker(monkeypatch: pytest.MonkeyPatch, rng: Any) -> None:
    g = torch.Generator().manual_seed(7)
    tensors = {  # degenerate and odd ones (a scalar, all-NaN, empty, integer, half-precision ...)
        "scalar": torch.tensor(3.0), "nan": torch.full((2,), float("nan")), "empty": torch.empty(0),
        "ints": torch.arange(20).reshape(4, 5) - 7, "half": torch.randn(6, 6, generator=g).half(),
        "bf16": torch.randn(70, 3, generator=g).bfloat16(),
        "f64": torch.randn(40, 40, generator=g, dtype=torch.float64),
        "inf": torch.tensor([1.0, float("inf"), -2.0, float("nan")]),
        "big": torch.randn(300, 90, generator=g).t(),  # not contiguous
    }  # fmt: skip
    plan = TensorPlan(("weights",), ("max",), False, False, (10, rng))
    got = {}
    for worker in ("1", "0"):
        monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", worker)
        cap = StepCapture()
        cap.add([(n, plan, t) for n, t in tensors.items()])
        pending = cap.finish((0, "TRAIN", 0))
        assert pending.in_flight is (worker == "1")
        got[worker] = {name: red[HISTOGRAM] for name, _, _, red, _, _ in pending.items()}
        cap.close()
    for name in tensors:
        a, b = got["1"][name], got["0"][name]
        np.testing.assert_array_equal(a.edges, b.edges, err_msg=name)
        np.testing.assert_array_equal(a.counts, b.counts, err_msg=name)
        assert a.outside == b.outside, name


def _hold_worker(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The worker counts (for real) only once the returned event is set."""
    release = threading.Event()
    real = _hist_worker._count

    def held(jobs: Any) -> Any:
        assert release.wait(30)
        return real(jobs)

    monkeypatch.setattr(_hist_worker, "_count", held)
    monkeypatch.setenv("SMDBG_HISTOGRAM_WORKER", "1")
    return release


def test_flush_waits_for_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = _hold_worker(monkeypatch)
    torch.manual_seed(0)
    net = Net()
    hook = smd.Hook(str(tmp_path / "t"), save_config=smd.SaveConfig(save_interval=2), reduction_config=RC,
                    include_collections=["weights"])  # fmt: skip
    hook.register_module(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook.wrap_optimizer(opt)
    net(torch.randn(8, 2, 8, 8)).sum().backward()
    opt.step()  # step 0, saved: its histograms go to the worker
    net(torch.randn(8, 2, 8, 8)).sum().backward()
    opt.step()  # step 1 ends: step 0 stays in flight (the worker is held)
    assert hook._pipe.in_flight
    threading.Timer(0.2, release.set).start()  # the worker goes on while flush waits
    hook.flush()
    t = smd.create_trial(str(tmp_path / "t")).tensor("Net_conv.weight")
    assert list(t.histograms()) == [0] and t.histogram(0)[1].sum() == 4 * 2 * 3 * 3
    hook.close()
