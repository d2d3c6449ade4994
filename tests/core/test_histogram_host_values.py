"""Histograms of host values (``save_tensor`` of numpy data, every framework), and the warning a
hook that computes no histograms of framework tensors gives (TensorFlow, MXNet; here the generic
hook, which shares that code)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import smdbg
from smdbg.hooks.base import BaseHook
from smdbg.reductions import compute_histogram
from smdbg.trial import create_trial


def test_save_tensor_of_numpy_data_saves_its_histogram(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rc = smdbg.ReductionConfig(reductions=["max"], histogram=5, histogram_range=(0.0, 10.0))
    hook = BaseHook(tmp_path / "run", save_config=smdbg.SaveConfig(save_interval=1), reduction_config=rc,
                    include_collections=["custom"])  # fmt: skip
    values = np.array([[0.0, 1.0, 2.5, 9.99], [10.0, 11.0, np.nan, 4.0]])
    with caplog.at_level(logging.WARNING, logger="smdbg.hooks"):
        hook.save_tensor("activ", values, collections_to_write="custom")
        hook._advance()
        hook.close()
    assert "computed by the PyTorch hook only; the generic hook saves no histograms" in caplog.text
    t = create_trial(tmp_path / "run").tensor("activ")
    edges, counts = t.histogram(0)
    ref = compute_histogram(values, 5, (0.0, 10.0))
    np.testing.assert_array_equal(edges, [0, 2, 4, 6, 8, 10])
    np.testing.assert_array_equal(counts, ref.counts)
    assert counts.tolist() == [2, 1, 1, 0, 2]  # 10.0 is in the last bin; 11.0 and NaN in none
    assert t.history("histogram")[1].tolist() == [2.0]
    assert t.reduction_value(0, "max") != t.reduction_value(0, "max")  # NaN propagates to max
