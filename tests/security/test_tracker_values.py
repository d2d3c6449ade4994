"""Tracker values: a bad point raises before anything is buffered, and never costs the good points
buffered with it. Real SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smdbg.tracker import InvalidValueError, TrialComponent
from smdbg.tracker import Tracker as TrackerClass


def _tracker(tmp_path: Path) -> tuple[TrackerClass, str]:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    return TrackerClass.create(db_url=url, artifact_location=str(tmp_path / "a"), flush_interval_s=0), url


@pytest.mark.parametrize("bad", [2**64, 2**63, -(2**63), -(2**64)])
def test_out_of_range_iteration_raises_and_keeps_buffered_points(tmp_path: Path, bad: int) -> None:
    tr, url = _tracker(tmp_path)
    tr.log_metric("loss", 0.5, iteration_number=1)
    tr.log_metric("loss", 0.4, iteration_number=2)
    with pytest.raises(InvalidValueError, match=f"iteration_number {bad}.*signed 64-bit"):
        tr.log_metric("loss", 0.3, iteration_number=bad)
    assert tr._buffer.pending == 2  # the bad point was not buffered
    tr.log_metric("loss", 0.2, iteration_number=2**63 - 1)  # the largest allowed
    tr.close()
    points = TrialComponent.load(tr.trial_component_name, db_url=url).metric_points()["loss"]
    np.testing.assert_array_equal(points.values, [0.5, 0.4, 0.2])
    np.testing.assert_array_equal(points.iterations, [1, 2, 2**63 - 1])


def test_bad_value_type_and_non_finite_raise_before_buffering(tmp_path: Path) -> None:
    tr, url = _tracker(tmp_path)
    tr.log_metric("acc", 0.9, iteration_number=0)
    for value, it in ((float("inf"), 1), ("0.8", 1), (0.8, True), (0.8, 1.5)):
        with pytest.raises(InvalidValueError):
            tr.log_metric("acc", value, iteration_number=it)  # type: ignore[arg-type]
    assert tr._buffer.pending == 1
    tr.close()
    tc = TrialComponent.load(tr.trial_component_name, db_url=url)
    assert tc.metric_points()["acc"].values.tolist() == [0.9]


def test_a_point_that_cannot_be_written_puts_the_batch_back(tmp_path: Path) -> None:
    """Defence in depth: a point that slipped past the checks fails the flush, and every point
    buffered with it stays buffered (none is dropped); removing it lets the rest be written."""
    tr, url = _tracker(tmp_path)
    tr.log_metric("loss", 1.0, iteration_number=0)
    tr._buffer.add("loss", 2.0, 0.0, 2**64)  # bypasses log_metric's checks
    with pytest.raises(OverflowError):
        tr.flush()
    assert tr._buffer.pending == 2
    values, stamps, iterations = tr._buffer._points["loss"]
    del values[-1], stamps[-1], iterations[-1]
    tr._buffer._count -= 1
    tr.close()
    assert TrialComponent.load(tr.trial_component_name, db_url=url).metric_points()[
        "loss"
    ].values.tolist() == [1.0]
