"""Run codes of the manifest and of a compacted segment's row order (``smdbg.store._runs``), and
the background compactor's thread settings (GIL yields, thread priority)."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from smdbg.store._runs import decode_blocks, decode_runs, encode_block_groups, encode_blocks, encode_runs


def _reference_blocks(rows: np.ndarray) -> list[list[int]]:
    """The greedy encoding written plainly, one block at a time (the specification)."""
    blocks: list[list[int]] = []  # [start, length]
    for r in rows.tolist():
        if blocks and r == blocks[-1][0] + blocks[-1][1]:
            blocks[-1][1] += 1
        else:
            blocks.append([r, 1])
    runs, i = [], 0
    while i < len(blocks):
        j = i + 1
        if j < len(blocks) and blocks[j][1] == blocks[i][1]:
            stride = blocks[j][0] - blocks[i][0]
            while j + 1 < len(blocks) and blocks[j + 1][1] == blocks[i][1] and blocks[j + 1][0] - blocks[j][0] == stride:
                j += 1
            runs.append([blocks[i][0], blocks[i][1], j - i + 1, stride])
            i = j + 1
        else:
            runs.append([blocks[i][0], blocks[i][1], 1, 0])
            i = j
    return runs


def _cases(rng: np.random.Generator) -> list[np.ndarray]:
    out = [np.zeros(0, np.int64), np.array([7]), np.arange(5), np.arange(0, 60, 6)]
    for _ in range(300):
        n = int(rng.integers(1, 40))
        kind = int(rng.integers(0, 3))
        if kind == 0:  # arbitrary sets
            out.append(np.unique(rng.integers(0, 120, n)))
        elif kind == 1:  # a tensor's rows in merged segments of unequal sizes (600 or 603 rows)
            starts = np.cumsum(rng.choice([600, 600, 603], n))
            out.append(np.concatenate([np.arange(s, s + 3) for s in starts]))
        else:  # blocks of 1 or 2 rows at strides of 5 or 10
            starts = np.cumsum(rng.choice([5, 5, 10], n))
            out.append(np.unique(np.concatenate([np.arange(s, s + int(rng.integers(1, 3))) for s in starts])))
    return out


def test_encode_blocks_is_the_greedy_encoding_and_decodes_back() -> None:
    for rows in _cases(np.random.default_rng(0)):
        runs = encode_blocks(rows)
        assert runs == _reference_blocks(rows), rows
        assert np.array_equal(decode_blocks(runs), rows)


def test_encode_block_groups_equals_encoding_each_group() -> None:
    rng = np.random.default_rng(1)
    cases = _cases(rng)
    for k in range(0, len(cases) - 5, 5):
        groups = cases[k : k + 5] + [np.zeros(0, np.int64)]  # an empty group too
        bounds = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
        got = encode_block_groups(np.concatenate(groups), bounds)
        assert got == [encode_blocks(g) for g in groups]


def test_encode_runs_round_trip_and_shapes() -> None:
    assert encode_runs([5, 1, 3, 3, 7, 8]) == [[1, 4, 2], [8, 1, 1]]
    assert encode_runs([]) == []
    assert encode_runs(np.array([4], np.int32)) == [[4, 1, 1]]
    for values in _cases(np.random.default_rng(2)):
        runs = encode_runs(values.tolist())
        assert np.array_equal(decode_runs(runs), np.unique(values))
        assert runs == encode_runs(values)  # a numpy array gives the same runs


def test_a_malformed_row_run_is_refused() -> None:
    with pytest.raises(ValueError, match=r"bad row run \[0, 3, 2, 1\]"):
        decode_blocks([[0, 3, 2, 1]])


def test_background_compactor_yields_between_merge_steps(tmp_path) -> None:  # noqa: ANN001
    from smdbg.store import open_fs
    from smdbg.store._background import BackgroundCompactor
    from smdbg.store.compact import Compactor, plan_tiered
    from smdbg.testing._long_run_contract import _write_small_segments

    _write_small_segments(str(tmp_path), 16, compact_secs=None)
    comp = Compactor(open_fs(str(tmp_path)), "worker_0")
    background = BackgroundCompactor(comp, interval=3600, process=False)  # merges on the thread
    background.stop()
    calls = []
    comp.pause = lambda: calls.append(1)  # the hook the background compactor fills
    assert background.nice is None  # off by default (priority inversion under the GIL)
    assert comp.run(lambda s: plan_tiered(s, 16))[2] == 1
    assert len(calls) >= 16 + 3  # after each input read, clustering, encoding, the entry


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are per thread on Linux only")
def test_lower_thread_priority_changes_the_calling_thread_only() -> None:
    from smdbg.store._background import lower_thread_priority

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, object] = {}

    def body() -> None:
        seen["ok"] = lower_thread_priority(min(before + 5, 19))
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == {"ok": True, "nice": min(before + 5, 19)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # this thread unchanged
