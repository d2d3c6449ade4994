"""FSDP2 (``fully_shard``) on the CPU with gloo, 2 ranks: reductions and histograms of sharded
parameters and gradients equal those of the same model unsharded, names are the unsharded ones,
raw shards reassemble into the whole tensor; a Partial DTensor is reported, training goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pytorch_testlib import ROOT, free_port

import smdbg.pytorch as smd
from smdbg.exceptions import TensorUnavailableForStep

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_fsdp_train.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, str]:
    pytest.importorskip("torch.distributed.fsdp")
    tmp = tmp_path_factory.mktemp("fsdp")
    sharded, plain, report = tmp / "sharded", tmp / "plain", tmp / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         f"--master_port={free_port()}", SCRIPT, str(sharded), str(plain), str(report)],
        env={**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    return sharded, plain, json.loads(report.read_text()), proc.stdout


def test_names_are_the_unsharded_ones(runs) -> None:  # noqa: ANN001
    sharded, plain, _, _ = runs
    want = {"MLP_fc1.weight", "MLP_fc1.bias", "MLP_fc2.weight", "MLP_fc2.bias"}
    ts, tp = smd.create_trial(str(sharded)), smd.create_trial(str(plain))
    assert want | {f"gradient/{n}" for n in want} <= set(ts.tensor_names())
    # the Partial parameter is not saved; the 2-D mesh one is (only the sharded model has it)
    assert set(ts.tensor_names()) - set(tp.tensor_names()) == {"MLP_grid"}
    assert ts.workers() == ["worker_0", "worker_1"]


def test_reductions_and_histograms_equal_the_unsharded_model(runs) -> None:  # noqa: ANN001
    sharded, plain, _, _ = runs
    ts, tp = smd.create_trial(str(sharded)), smd.create_trial(str(plain))
    names = [n for n in tp.tensor_names() if "MLP_" in n]
    assert len(names) == 8
    for name in names:
        a, b = ts.tensor(name), tp.tensor(name)
        assert a.steps() == b.steps() == [0, 1, 2]
        for step in (0, 2):
            got, want = a.reduction_values(step), b.reduction_values(step)
            assert set(got) == set(want) and len(want) == 12
            for key, value in want.items():  # float32 precision
                assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7, nan_ok=True), (name, step, key)
            for worker in ("worker_0", "worker_1"):  # every rank holds the whole tensor's values
                assert a.reduction_value(step, "l2", worker=worker) == pytest.approx(want[("l2", False)], rel=1e-6)
            (ea, ca), (eb, cb) = a.histogram(step), b.histogram(step)
            np.testing.assert_allclose(ea, eb, rtol=1e-6)
            np.testing.assert_array_equal(ca, cb)


def test_raw_shards_reassemble_into_the_whole_tensor(runs) -> None:  # noqa: ANN001
    sharded, plain, _, _ = runs
    ts, tp = smd.create_trial(str(sharded)), smd.create_trial(str(plain))
    for name in ("MLP_fc1.weight", "gradient/MLP_fc1.weight", "MLP_fc2.bias"):
        a, b = ts.tensor(name), tp.tensor(name)
        for step in (0, 2):
            np.testing.assert_allclose(a.value(step), b.value(step), rtol=1e-6, atol=1e-8)
        assert a.shape(1) == b.value(1).shape
        assert sorted(a.values()) == [0, 1, 2]
    w0 = ts.tensor("MLP_fc1.weight").value(1, worker="worker_0")
    w1 = ts.tensor("MLP_fc1.weight").value(1, worker="worker_1")
    assert w0.shape == (3, 6) and w1.shape == (2, 6)  # each worker's own block
    np.testing.assert_array_equal(np.concatenate([w0, w1]), ts.tensor("MLP_fc1.weight").value(1))


def test_rank_0_alone_saves_the_same_reductions_and_says_what_raw_needs(runs) -> None:  # noqa: ANN001
    sharded, _, _, _ = runs
    ts, one = smd.create_trial(str(sharded)), smd.create_trial(f"{sharded}-one")
    assert one.workers() == ["worker_0"]
    w = one.tensor("gradient/MLP_fc1.weight")
    assert w.reduction_values(2) == pytest.approx(ts.tensor("gradient/MLP_fc1.weight").reduction_values(2))
    assert w.value(2, worker="worker_0").shape == (3, 6)  # rank 0's own block
    with pytest.raises(TensorUnavailableForStep, match="cover 18 of 30 elements; save raw shards with include_workers='all'"):
        w.value(2)


def test_a_2d_mesh_replicated_and_sharded_tensor(runs) -> None:  # noqa: ANN001
    sharded, _, _, _ = runs
    grid = np.arange(12.0).reshape(4, 3) - 5
    t = smd.create_trial(str(sharded)).tensor("MLP_grid")
    for worker in ("worker_0", "worker_1"):
        assert t.reduction_value(1, "mean", worker=worker) == pytest.approx(grid.mean())
        assert t.reduction_value(1, "l2", worker=worker) == pytest.approx(np.linalg.norm(grid))
        assert t.reduction_value(1, "min", worker=worker) == -5.0
        assert t.reduction_value(1, "variance", worker=worker) == pytest.approx(grid.var())
    np.testing.assert_array_equal(t.value(1), grid)
    assert t.value(1, worker="worker_1").shape == (2, 3)


def test_partial_placement_is_reported_and_training_goes_on(runs) -> None:  # noqa: ANN001
    _, _, report, output = runs
    assert "MLP_partial is not saved: a DTensor with placement Partial(sum)" in output
    assert output.count("MLP_partial is not saved") == 4  # once per hook (2) and rank (2), not per step
    assert report["errors"] == 0 and len(report["losses"]) == 3


def test_save_tensor_of_a_dtensor_says_what_to_pass(runs) -> None:  # noqa: ANN001
    _, _, report, _ = runs
    assert "a DTensor (placements (Shard(dim=0),)) was given to save_tensor" in report["save_error"]
    assert "dt.full_tensor()" in report["save_error"]
