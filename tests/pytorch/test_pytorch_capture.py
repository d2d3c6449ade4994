"""The capture path: pooled host copies, batched and grouped reductions, the save planner.

Records of a step may still sit in the writer's buffer (numpy views of pooled copies) when later
steps capture the same tensors: those copies must never be overwritten.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from pytorch_testlib import Net, batch

import smdbg.pytorch as smd
from smdbg.collections import CollectionManager
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks.torch._capture import grouped_reductions
from smdbg.hooks.torch._cpu import per_tensor
from smdbg.hooks.torch._host_pool import HostPool
from smdbg.reductions import compute_reductions

KEYS = ["mean", "max", "min", "std", "l1", "l2", "abs_max", "abs_mean"]


def test_host_pool_never_reuses_a_buffer_still_referenced() -> None:
    pool = HostPool(max_bytes=1 << 20)
    t = torch.arange(12.0).reshape(3, 4)
    a = pool.copy(t)
    view = a.reshape(-1)[4:].view(np.uint8)  # a view of a view, as the segment encoder makes
    del a
    b = pool.copy(t * 2)
    assert not np.shares_memory(b, view)
    np.testing.assert_array_equal(view.view(np.float32), np.arange(4.0, 12.0, dtype=np.float32))
    del view, b
    c = pool.copy(t * 3)  # everything released: one of the two pooled buffers comes back
    assert pool.pooled_bytes == 2 * 48
    np.testing.assert_array_equal(c, (t * 3).numpy())
    # beyond max_bytes copies are plain (unpooled) arrays; dtypes numpy lacks are torch clones
    big = pool.copy(torch.ones(1 << 19))
    assert pool.pooled_bytes == 2 * 48 and big.sum() == 1 << 19
    assert isinstance(pool.copy(torch.ones(3, dtype=torch.bfloat16)), torch.Tensor)


def test_host_pool_flat_copies_hold_their_buffer_while_any_view_lives() -> None:
    pool = HostPool()
    ts = [torch.arange(6.0).reshape(2, 3), torch.tensor([7.0, 8.0])]
    first = pool.copy_flat(ts)
    np.testing.assert_array_equal(first[0], ts[0].numpy())
    np.testing.assert_array_equal(first[1], [7.0, 8.0])
    keep = first[1]
    del first  # one view still alive: the buffer must not come back
    second = pool.copy_flat([t * 10 for t in ts])
    np.testing.assert_array_equal(keep, [7.0, 8.0])
    assert not np.shares_memory(keep, second[0])
    del keep, second
    third = pool.copy_flat([t + 1 for t in ts])
    assert pool.pooled_bytes == 2 * 8 * 4 and third[1][0] == 8.0


@pytest.mark.parametrize("raw", [True, False])
def test_every_step_saved_values_survive_buffering(tmp_path, raw: bool) -> None:
    """30 steps saved while the writer buffers everything (no segment until close)."""
    torch.manual_seed(0)
    model, loss_fn = Net(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    rc = smd.ReductionConfig(reductions=["mean", "max", "min", "std"], abs_reductions=["max", "mean"],
                             norms=["l1", "l2"], save_raw_tensor=raw)  # fmt: skip
    hook = smd.Hook(tmp_path, save_config=smd.SaveConfig(save_interval=1), reduction_config=rc,
                    include_collections=["weights", "gradients", "losses"], flush_secs=3600)  # fmt: skip
    hook.register_module(model)
    hook.register_loss(loss_fn)
    hook.wrap_optimizer(opt)
    expected = []
    for step in range(30):
        x, y = batch(step)
        opt.zero_grad()  # set_to_none: each step's gradients are new tensors
        loss_fn(model(x), y).backward()
        expected.append((model.fc1.weight.detach().clone().numpy(), model.fc1.weight.grad.clone().numpy()))
        opt.step()
    hook.close()
    trial = smd.create_trial(tmp_path)
    w, g = trial.tensor("Net_fc1.weight"), trial.tensor("gradient/Net_fc1.weight")
    assert w.steps() == list(range(30))
    for step, (we, ge) in enumerate(expected):
        for t, ref in ((w, we), (g, ge)):
            want = compute_reductions(ref, KEYS)
            for key in KEYS:
                name, is_abs = (key[4:], True) if key.startswith("abs_") else (key, False)
                assert t.reduction_value(step, name, abs=is_abs) == pytest.approx(
                    want[key], rel=1e-5, abs=1e-7
                )
            if raw:
                np.testing.assert_array_equal(t.value(step), ref)


def test_planner_skips_quiet_steps_but_sees_config_changes() -> None:
    """Steps between saves cost one comparison; a save config set meanwhile is still honoured."""
    colls = CollectionManager()
    colls.get("weights")
    planner = SavePlanner(colls, ["weights"], smd.SaveConfig(save_interval=100), None)
    mode = smd.modes.TRAIN
    saved = [s for s in range(0, 250) if planner.begin_step(mode, s)]
    assert saved == [0, 100, 200]
    assert planner.begin_step(mode, 3) is False
    colls.get("weights").save_config = smd.SaveConfig(save_interval=7)
    assert [s for s in range(250, 265) if planner.begin_step(mode, s)] == [252, 259]
    cfg = smd.SaveConfig(save_steps=[5, 17], start_step=40, save_interval=25, end_step=90)
    brute = [s for s in range(0, 200) if cfg.should_save_step(mode, s)]
    assert brute == [5, 17, 50, 75]
    assert [cfg.next_save_step(mode, s) for s in (0, 6, 18, 51, 76)] == [5, 17, 50, 75, None]


def test_grouped_reductions_match_per_tensor_ones() -> None:
    """The GPU path stacks runs of equal shapes; checked here on CPU tensors."""
    g = torch.Generator().manual_seed(3)
    shapes = [(), (4,), (4,), (4,), (3, 5), (3, 5), (2, 2, 2), (7,)]
    ts = [torch.randn(s, generator=g) for s in shapes]
    ts[2][1] = float("nan")  # a NaN stays in its own row
    for key in ("mean", "sum", "prod", "variance", "std", "max", "min", "l1", "l2", "abs_mean", "abs_min"):
        got = grouped_reductions(ts, key)
        want = torch.stack([per_tensor(key, t) for t in ts])
        torch.testing.assert_close(got, want, equal_nan=True, rtol=1e-5, atol=1e-6)


def test_capture_agrees_with_numpy_for_odd_tensors() -> None:
    """The capture gives numpy's definitions, for odd tensors too (one-element tensors are
    reduced on the host, the others with batched kernels)."""
    from smdbg.hooks._plan import TensorPlan
    from smdbg.hooks.torch._capture import StepCapture

    keys = ("mean", "max", "min", "std", "variance", "sum", "l1", "l2", "abs_max", "abs_mean")
    plan = TensorPlan(("weights",), keys, True, False)
    g = torch.Generator().manual_seed(1)
    tensors = {
        "scalar": torch.tensor(-2.5),
        "one": torch.tensor([float("nan")]),
        "empty": torch.zeros(0, 3),
        "ints": torch.arange(-3, 9).reshape(3, 4),
        "half": torch.randn(5, 5, generator=g).half(),
        "a": torch.randn(4, 4, generator=g),
        "b": torch.randn(4, 4, generator=g),
        "inf": torch.tensor([1.0, float("inf"), -2.0]),
    }
    cap = StepCapture()
    cap.add([(n, plan, t) for n, t in tensors.items()])
    pending = cap.finish((0, "TRAIN", 0))
    got = {name: (raw, red) for name, _, raw, red, _, _ in pending.items()}
    for name, t in tensors.items():
        raw, red = got[name]
        np.testing.assert_array_equal(raw, t.numpy())
        want = compute_reductions(t.double().numpy(), keys)
        for key in keys:
            assert red[key] == pytest.approx(want[key], rel=1e-3 if t.dtype == torch.float16 else 1e-5,
                                             abs=1e-6, nan_ok=True), (name, key)  # fmt: skip


ALL_KEYS = ("mean", "sum", "prod", "variance", "std", "max", "min", "l1", "l2",
            "abs_mean", "abs_sum", "abs_max", "abs_min", "abs_l1", "abs_l2", "abs_prod", "abs_std")  # fmt: skip


def _odd_tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    big = torch.randn(300, 70, generator=g)
    nan = torch.randn(40, generator=g)
    nan[7] = float("nan")
    return {
        "big": big,
        "transposed": big.t()[::2],  # not contiguous
        "nan": nan,
        "infs": torch.tensor([1.0, float("inf"), -float("inf"), 2.0]),
        "neg_inf": torch.tensor([-float("inf"), 3.0]),
        "bf16": torch.randn(33, generator=g).bfloat16(),
        "f64": torch.randn(17, generator=g, dtype=torch.float64),
        "ints": torch.arange(-5, 6),
        "bools": torch.tensor([True, False, True]),
        "complex": torch.tensor([3 + 4j, -1j, 2 + 0j]),
        "small": torch.tensor([0.5, -0.25]) * 1e-3,
    }


def _want(t: torch.Tensor) -> np.ndarray:
    return (t.abs() if t.is_complex() else t).double().numpy()


def test_cpu_reductions_follow_numpy_definitions() -> None:
    """The CPU kernels (torch sums, numpy max/min, BLAS dot for the l2 norm) against the numpy
    definitions, for odd dtypes, layouts and non-finite values."""
    from smdbg.hooks.torch._cpu import cpu_reductions

    for name, t in _odd_tensors().items():
        with torch.no_grad():
            got = cpu_reductions(t, ALL_KEYS)
        want = compute_reductions(_want(t), ALL_KEYS)
        rel = 1e-2 if t.dtype == torch.bfloat16 else 1e-5
        for key in ALL_KEYS:
            assert got[key] == pytest.approx(want[key], rel=rel, abs=1e-9, nan_ok=True), (name, key)
    with pytest.raises(ValueError, match="unknown reduction key 'median'"):
        cpu_reductions(torch.ones(3), ("median",))


def test_cpu_l2_norm_of_huge_values_does_not_overflow() -> None:
    from smdbg.hooks.torch._cpu import cpu_reductions

    t = torch.full((4,), 3e20)  # float32 squares overflow; the norm itself does not
    assert cpu_reductions(t, ("l2",))["l2"] == pytest.approx(6e20, rel=1e-6)


def test_flat_segment_reductions_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path reduces many tensors over one flat buffer with segmented reductions; the
    same code checked here on CPU tensors, across several flat chunks."""
    from smdbg.hooks.torch import _flat as _torch_flat
    from smdbg.hooks.torch._flat import FLAT_KEYS, SegmentLayouts, flat_reductions

    keys = sorted(FLAT_KEYS)
    layouts = SegmentLayouts()
    tensors = {k: t for k, t in _odd_tensors().items() if t.dtype == torch.float32}
    ts = [t for t in tensors.values()]
    # one buffer; a chunk per few tensors (bounded memory); many sub-segments per tensor
    for chunk, sub in ((1 << 26, 1 << 14), (100, 1 << 14), (1 << 26, 7)):
        monkeypatch.setattr(_torch_flat, "FLAT_CHUNK", chunk)
        monkeypatch.setattr(_torch_flat, "SUB_SEGMENT", sub)
        got = flat_reductions(ts, keys, SegmentLayouts())
        assert got.shape == (len(keys), len(ts)) and got.dtype == torch.float64
        for j, (name, t) in enumerate(tensors.items()):
            want = compute_reductions(_want(t), keys)
            for i, key in enumerate(keys):
                assert got[i, j].item() == pytest.approx(want[key], rel=1e-5, abs=1e-9, nan_ok=True), (
                    name,
                    key,
                )
    ints = [torch.arange(-3, 4), torch.tensor([7, -9])]
    got = flat_reductions(ints, ["sum", "abs_max", "mean"], layouts)
    assert got.tolist() == [[0.0, -2.0], [3.0, 9.0], [0.0, -1.0]]
    with pytest.raises(ValueError, match="'std' has no flat form"):
        flat_reductions(ts, ["std"], layouts)


def test_sparse_gradients_are_saved_dense(tmp_path) -> None:
    """nn.Embedding(sparse=True) hands the optimizer a sparse gradient: saved as its dense values."""
    torch.manual_seed(0)
    emb = nn.Embedding(20, 3, sparse=True)
    opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    hook = smd.Hook(str(tmp_path), include_collections=["weights", "gradients"],
                    save_config=smd.SaveConfig(save_interval=1),
                    reduction_config=smd.ReductionConfig(reductions=["mean"], norms=["l2"], save_raw_tensor=True))  # fmt: skip
    hook.register_module(emb)
    hook.wrap_optimizer(opt)
    grads = []
    for ids in ([1, 2, 2], [5]):
        opt.zero_grad()
        emb(torch.tensor(ids)).sum().backward()
        grads.append(emb.weight.grad.to_dense().clone())
        opt.step()
    hook.close()
    trial = smd.create_trial(str(tmp_path))
    g = trial.tensor("gradient/Embedding_weight")
    for step, want in enumerate(grads):
        np.testing.assert_array_equal(g.value(step), want.numpy())
        assert g.reduction_value(step, "l2") == pytest.approx(float(want.norm()), rel=1e-6)
