"""Histograms as a reduction: config checks, device formulas against numpy, the hook end to end,
the store's format change (a format-1 trial still reads and compacts), the TensorBoard export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import smdbg.pytorch as smd
from smdbg.exceptions import TensorUnavailableForStep
from smdbg.hooks.torch._hist import cpu_histogram, device_histogram, histogram_of_vector
from smdbg.reductions import compute_histogram
from smdbg.store import BackgroundWriter, Record
from smdbg.store.compact import compact_trial

V1_TRIAL = Path(__file__).resolve().parents[1] / "data" / "trial_format_v1"


# -- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [0, -4, 2.5, True, "many", 1 << 20])
def test_bad_bins_name_the_value(bins: object) -> None:
    with pytest.raises(ValueError, match=rf"histogram={bins!r}: expected a positive integer"):
        smd.ReductionConfig(histogram=bins)  # type: ignore[arg-type]


@pytest.mark.parametrize("rng", [(1.0, 0.0), (2, 2), (0, float("nan")), (float("-inf"), 1), "max", (1,), ("a", 1)])
def test_bad_range_names_the_value(rng: object) -> None:
    with pytest.raises(ValueError, match=r"histogram_range=.*expected 'minmax' or a pair \(lo, hi\)"):
        smd.ReductionConfig(histogram=8, histogram_range=rng)  # type: ignore[arg-type]


def test_config_round_trips_through_json() -> None:
    rc = smd.ReductionConfig(reductions=["mean"], histogram=16, histogram_range=(-2, 2))
    assert smd.ReductionConfig.from_json(rc.to_json()) == rc
    assert smd.ReductionConfig.from_dict(rc.to_dict()) == rc
    assert smd.ReductionConfig.from_dict({"reductions": "mean", "histogram": "32"}).histogram == 32
    assert not smd.ReductionConfig(histogram=8).saves_raw  # a histogram alone does not save the tensor
    assert smd.ReductionConfig(histogram=8, save_raw_tensor=True).saves_raw


# -- the formulas -----------------------------------------------------------------------------------
def _close(a: np.ndarray, b: np.ndarray) -> None:
    """Counts equal up to a value on a bin edge rounded the other way (float32 vs float64)."""
    assert a.sum() == b.sum() and int(np.abs(a - b).sum()) <= 2, (a, b)


@pytest.mark.parametrize("rng", ["minmax", (-1.0, 1.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64])
def test_cpu_and_device_formulas_match_numpy(rng: object, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(4097, generator=g) * 3).to(dtype)
    if dtype.is_floating_point:
        x[[3, 50, 700]] = torch.tensor([float("nan"), float("inf"), float("-inf")]).to(dtype)
    ref = compute_histogram(x.float().numpy() if dtype == torch.bfloat16 else x.numpy(), 32, rng)  # type: ignore[arg-type]
    cpu = cpu_histogram(x, 32, rng)  # type: ignore[arg-type]
    dev = histogram_of_vector(device_histogram(x, 32, rng).tolist(), x.numel())  # type: ignore[arg-type]
    for got in (cpu, dev):
        np.testing.assert_allclose(got.edges, ref.edges, rtol=1e-6)
        _close(got.counts, ref.counts)
        assert got.outside == ref.outside
    if rng == "minmax" and dtype.is_floating_point:
        assert ref.outside == 3  # NaN, inf, -inf
    elif rng != "minmax":
        assert ref.outside > 2000  # most of a N(0, 9) sample (or its integer part) is outside [-1, 1]


@pytest.mark.parametrize("values", [[2.0] * 5, [float("nan")] * 4, [1.0], [float("inf"), 3.0]])
def test_degenerate_tensors(values: list[float]) -> None:
    x = torch.tensor(values)
    ref = compute_histogram(x.numpy(), 4)
    for got in (cpu_histogram(x, 4, "minmax"), histogram_of_vector(device_histogram(x, 4, "minmax").tolist(), len(values))):
        np.testing.assert_array_equal(got.counts, ref.counts)
        np.testing.assert_allclose(got.edges, ref.edges)
        assert got.outside == ref.outside
    assert ref.edges[0] < ref.edges[-1]  # a constant gets one unit around it, all-NaN gets (0, 1)


# -- the hook end to end --------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _train(out: Path, rc: smd.ReductionConfig, steps: int = 4, **hook_kwargs: object) -> None:
    torch.manual_seed(0)
    net, loss_fn = MLP(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    hook = smd.Hook(str(out), save_config=smd.SaveConfig(save_interval=2), reduction_config=rc,
                    include_collections=["weights", "biases", "gradients", "losses"], **hook_kwargs)  # fmt: skip
    hook.register_module(net)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(torch.randn(16, 6)), torch.randint(0, 3, (16,))).backward()
        opt.step()
    hook.close()


def test_hook_saves_histograms_equal_to_numpy_of_the_raw_tensor(tmp_path: Path) -> None:
    _train(tmp_path / "t", smd.ReductionConfig(reductions=["mean"], histogram=12, save_raw_tensor=True))
    trial = smd.create_trial(str(tmp_path / "t"))
    names = [n for n in trial.tensor_names() if "fc" in n]
    assert len(names) == 8  # 4 weights/biases and their gradients
    for name in names:
        t = trial.tensor(name)
        assert "histogram" in t.reductions()
        hists = t.histograms()
        assert list(hists) == [0, 2]
        for step, (edges, counts) in hists.items():
            ref = compute_histogram(t.value(step), 12)
            np.testing.assert_array_equal(edges, ref.edges)  # the CPU counts are numpy's exactly
            np.testing.assert_array_equal(counts, ref.counts)
            assert counts.dtype == np.int64 and edges.shape == (13,)
        steps, outside = t.history("histogram")
        assert steps.tolist() == [0, 2] and outside.tolist() == [0.0, 0.0]
        assert ("histogram", False) not in t.reduction_values(0)  # not a scalar reduction
    with pytest.raises(TensorUnavailableForStep):
        trial.tensor("CrossEntropyLoss_output_0").histogram(0)  # losses keep their own (scalar) config


def test_histogram_only_config_saves_no_raw_tensor_and_counts_outside_a_fixed_range(tmp_path: Path) -> None:
    _train(tmp_path / "t", smd.ReductionConfig(histogram=4, histogram_range=(-0.1, 0.1)))
    t = smd.create_trial(str(tmp_path / "t")).tensor("MLP_fc1.weight")
    assert t.reductions() == ["histogram"]
    edges, counts = t.histogram(2)
    np.testing.assert_allclose(edges, [-0.1, -0.05, 0.0, 0.05, 0.1])
    _, outside = t.history("histogram")
    assert counts.sum() + outside[-1] == 48  # 6x8 weights: in the bins or counted outside
    assert outside[-1] > 0  # nn.Linear(6, 8) initialises up to 1/sqrt(6) = 0.41


# -- the store: format version 2, a format-1 trial still reads ------------------------------------
def test_a_trial_written_before_histograms_still_reads(tmp_path: Path) -> None:
    trial = smd.create_trial(str(V1_TRIAL))
    w = trial.tensor("Sequential_0.weight")
    assert w.steps() == [0, 1, 2] and "histogram" not in w.reductions()
    np.testing.assert_allclose(w.reduction_value(1, "mean"), w.value(1).astype(np.float64).mean(), rtol=1e-6)
    assert w.histograms() == {}
    with pytest.raises(TensorUnavailableForStep, match="histogram"):
        w.histogram(1)


def test_format_1_and_2_segments_compact_together(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    shutil.copytree(V1_TRIAL, root)
    (root / "events" / "worker_0" / "END.json").unlink()
    before = smd.create_trial(str(root)).tensor("Sequential_0.weight").value(2)
    hist = (np.linspace(0.0, 1.0, 5), np.array([1, 2, 3, 4], dtype=np.int64))
    with BackgroundWriter(str(root), "worker_0", append=True, compact_secs=None) as wr:
        wr.add(3, "TRAIN", 3, [Record("Sequential_0.weight", ("weights",), "histogram", 0.0, "float32", None, None, hist)])
    compact_trial(str(root))
    segments = list((root / "events" / "worker_0").glob("*.parquet"))
    assert len(segments) == 1  # one compacted segment holds both versions' rows
    t = smd.create_trial(str(root)).tensor("Sequential_0.weight")
    np.testing.assert_array_equal(t.value(2), before)
    edges, counts = t.histogram(3)
    np.testing.assert_array_equal(counts, hist[1])
    assert list(t.histograms()) == [3]
    import pyarrow.parquet as pq

    meta = pq.read_schema(segments[0]).metadata
    assert meta[b"smdbg.format_version"] == b"2"
    table = pq.read_table(segments[0], columns=["reduction", "hist_counts"]).to_pylist()
    assert [r["hist_counts"] for r in table if r["reduction"] == "histogram"] == [[1, 2, 3, 4]]


# -- TensorBoard ------------------------------------------------------------------------------------
def _tb_histograms(logdir: Path) -> dict[tuple[str, int], np.ndarray]:
    """Histograms as TensorBoard's own loader gives them to its histogram plugin: one
    (left edge, right edge, count) row per bucket."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    out = {}
    for f in logdir.rglob("events.out.tfevents.*"):
        for ev in EventFileLoader(str(f)).Load():
            for v in ev.summary.value:
                if v.metadata.plugin_data.plugin_name == "histograms":
                    out[(v.tag, ev.step)] = tensor_util.make_ndarray(v.tensor)
    return out


def test_tensorboard_export_and_mirror_write_the_saved_bins(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from smdbg.bridges.tensorboard import export_trial

    _train(tmp_path / "t", smd.ReductionConfig(histogram=6), export_tensorboard=True,
           tensorboard_dir=str(tmp_path / "live"))  # fmt: skip
    t = smd.create_trial(str(tmp_path / "t")).tensor("gradient/MLP_fc2.weight")
    edges, counts = t.histogram(2)
    export_trial(str(tmp_path / "t"), tmp_path / "tb")
    for logdir in (tmp_path / "tb", tmp_path / "live"):
        rows = _tb_histograms(logdir)[("gradient/MLP_fc2.weight", 2)]
        filled = rows[rows[:, 2] > 0]
        assert filled[:, 2].sum() == counts.sum() == 24  # 3x8 gradient values
        for left, right, count in filled.tolist():
            i = int(np.argmin(np.abs(edges[:-1] - left)))
            assert (left, right, count) == pytest.approx((edges[i], edges[i + 1], counts[i]))
    assert json.loads((tmp_path / "t" / "trial.json").read_text())["framework"] == "pytorch"
