"""Compacted segments clustered by tensor (``smdbg.store._cluster``): row-group sizing, and
readers that follow rows through merges of clustered and of older, step-ordered segments."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import numpy as np
import pytest

from smdbg.store import BackgroundWriter, Record, TrialReader, open_fs
from smdbg.store import _merge as merge_mod
from smdbg.store._cluster import group_rows, source_positions
from smdbg.store._compacted import read_footer
from smdbg.store.compact import Compactor
from smdbg.store.format import EVENTS_DIR
from smdbg.testing._long_run_contract import segment_names
from smdbg.trials import create_trial

W0 = f"{EVENTS_DIR}/worker_0"
NAMES = ("c.weight", "a.weight", "b.bias")


def test_row_groups_hold_whole_tensors() -> None:
    flat = np.full(10, 64)
    # Blocks at the median or above get groups of their own; small ones share.
    assert group_rows([5000, 5000, 100, 100, 5000], np.full(15200, 64)) == [5000, 5000, 200, 5000]
    assert group_rows([100] * 10, flat[:1].repeat(1000)) == [1000]  # all under the minimum: one
    assert group_rows([9000, 1000, 1000], np.full(11000, 64)) == [3000, 3000, 3000, 2000]  # cut evenly
    # Raw data: a block over max_bytes is cut by size, whatever its rows.
    assert group_rows([4, 4], np.full(8, 300), max_bytes=1000) == [2, 2, 2, 2]
    assert group_rows([], np.zeros(0)) == [0]


def test_source_positions_must_fit_the_file() -> None:
    order = base64.b64encode(zlib.compress(b'{"a":[[2,1,1,0]],"b":[[0,2,1,0]]}'))
    assert source_positions(None, 3) is None
    assert source_positions(order, 3).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="maps 3 rows, the segment has 4"):
        source_positions(order, 4)
    for damaged in (b'{"a":[[2,1,1,0]]}', base64.b64encode(b"not zlib")):
        with pytest.raises(ValueError):
            source_positions(damaged, 1)


def _write(path: Path, segments: int, steps: int = 3) -> dict[tuple[str, int], np.ndarray]:
    """``segments`` segments of ``steps`` steps; each tensor raw + mean every step."""
    rng = np.random.default_rng(1)
    saved = {}
    with BackgroundWriter(str(path), "worker_0", flush_secs=60, compact_secs=None) as w:
        for step in range(segments * steps):
            recs = []
            for name in NAMES:
                saved[(name, step)] = arr = rng.standard_normal((4, 3)).astype(np.float32)
                recs += [
                    Record(name, ("weights",), "raw", None, "float32", arr.shape, arr),
                    Record(name, ("weights",), "mean", float(arr.astype(np.float64).mean()), "float32", None, None),
                ]
            w.set_progress(step, "TRAIN", step)
            w.add(step, "TRAIN", step, recs)
            if step % steps == steps - 1:
                w.flush()
    return saved


def _check(trial, saved: dict[tuple[str, int], np.ndarray], steps: int) -> None:  # noqa: ANN001
    for name in NAMES:
        t = trial.tensor(name)
        assert t.steps() == list(range(steps))
        got_steps, means = t.history("mean")
        assert got_steps.tolist() == list(range(steps))
        np.testing.assert_allclose(means, [saved[(name, s)].astype(np.float64).mean() for s in range(steps)])
        for s in (0, steps // 2, steps - 1):
            np.testing.assert_array_equal(t.value(s), saved[(name, s)])


def test_readers_follow_rows_through_merges_of_merges(tmp_path: Path) -> None:
    """A reader that read step-ordered segments, then a clustered merge of them, keeps valid
    rows when that merge is merged again; one that read one tensor of a clustered segment
    finds the rest after it moved."""
    saved = _write(tmp_path, 6)
    comp = Compactor(open_fs(tmp_path), "worker_0")
    small = segment_names(str(tmp_path))
    early = create_trial(str(tmp_path), timeout=5, refresh_interval=0)
    _check(early, saved, 18)  # every row read, from the six small segments
    first = comp.merge(small[:3])
    assert first is not None and first.compacted
    footer = read_footer(open_fs(tmp_path), f"{W0}/{first}")
    assert footer.order is not None and source_positions(footer.order, footer.rows) is not None
    middle = create_trial(str(tmp_path), timeout=5, refresh_interval=0)
    for name in NAMES:  # the index of the clustered merge and three small segments, no raw data
        assert middle.tensor(name).history("mean")[0].tolist() == list(range(18))
    partial = TrialReader(str(tmp_path))
    partial.refresh()
    assert len(partial.tensor_cols("a.weight")["step"]) == 2 * 18
    second = comp.merge([first, *small[3:]])
    assert second is not None and segment_names(str(tmp_path)) == [second]
    for trial in (early, middle):  # rows handed out before either merge stay valid
        _check(trial, saved, 18)  # (middle reads raw data, dtype and shape of its rows now)
    assert len(partial.tensor_cols("c.weight")["step"]) == 2 * 18  # found in the new merge
    assert len(partial.cols["step"]) == 6 * 18
    _check(create_trial(str(tmp_path), timeout=5), saved, 18)


def test_older_step_ordered_merges_still_read_and_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compacted segment written before clustering (step order, no smdbg.order) reads as
    before, and merges with clustered ones."""
    saved = _write(tmp_path, 4)
    comp = Compactor(open_fs(tmp_path), "worker_0")
    small = segment_names(str(tmp_path))
    with monkeypatch.context() as m:  # the compactor as it was: rows kept in step order
        m.setattr(merge_mod, "cluster_by_tensor", lambda table, positions: (table, b"", None))
        old = comp.merge(small[:2])
    assert old is not None
    assert read_footer(open_fs(tmp_path), f"{W0}/{old}").order is None
    live = create_trial(str(tmp_path), timeout=5, refresh_interval=0)
    _check(live, saved, 12)
    new = comp.merge([old, *small[2:]])
    assert new is not None and read_footer(open_fs(tmp_path), f"{W0}/{new}").order is not None
    _check(live, saved, 12)
    _check(create_trial(str(tmp_path), timeout=5), saved, 12)
