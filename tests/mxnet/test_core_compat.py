"""smdbg's core in the MXNet environment: numpy 1.23 and the pyarrow pinned for it."""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import smdbg
from smdbg.config import ReductionConfig, SaveConfig
from smdbg.hooks.base import BaseHook

pytestmark = pytest.mark.mxnet


def test_the_environment_is_the_old_one() -> None:
    assert np.__version__.startswith("1.23.")
    assert int(pa.__version__.split(".")[0]) < 14  # no Parquet page checksums: the fallback runs


def test_store_round_trip_and_plain_pyarrow_reads_it(tmp_path: object) -> None:
    out = os.path.join(str(tmp_path), "t")
    hook = BaseHook(
        out,
        save_config=SaveConfig(save_interval=1),
        reduction_config=ReductionConfig(reductions=["mean", "max"], norms=["l2"], save_raw_tensor=True),
        include_collections=["default"],
    )
    arrays = {s: np.arange(12, dtype=np.float32).reshape(3, 4) * (s + 1) for s in range(4)}
    for s, a in arrays.items():
        hook.save_tensor("x", a)
        hook.save_scalar("loss", float(s) / 2)
        hook._advance()
    hook.close()

    trial = smdbg.create_trial(out)
    assert trial.steps() == [0, 1, 2, 3]
    for s, a in arrays.items():
        got = trial.tensor("x").value(s)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, a)
        assert trial.tensor("x").reduction_value(s, "mean") == pytest.approx(a.mean())
        assert trial.tensor("x").reduction_value(s, "l2") == pytest.approx(np.linalg.norm(a))
    assert trial.tensor("loss").values() == {s: pytest.approx(s / 2) for s in range(4)}
    assert trial.training_has_ended()

    segments = glob.glob(os.path.join(out, "**", "*.parquet"), recursive=True)
    assert segments
    table = pq.read_table(segments[0])  # readable without smdbg
    assert {"step", "tensor", "reduction", "value"} <= set(table.column_names)


def test_a_damaged_segment_is_named_without_page_checksums(tmp_path: object) -> None:
    out = os.path.join(str(tmp_path), "t")
    hook = BaseHook(out, save_config=SaveConfig(save_interval=1), include_collections=["default"])
    hook.save_tensor("x", np.ones(64))
    hook.close()
    (segment,) = glob.glob(os.path.join(out, "**", "*.parquet"), recursive=True)
    with open(segment, "r+b") as f:
        f.seek(40)
        byte = f.read(1)
        f.seek(40)
        f.write(bytes([byte[0] ^ 0xFF]))
    trial = smdbg.create_trial(out, on_corrupt="warn")
    # Opened from the worker's manifest: the segment is verified when first read (here: asked about).
    with pytest.warns(UserWarning, match="CRC-32"):
        corrupt = trial.corrupt_segments
    assert any("CRC-32" in why for why in corrupt.values())
