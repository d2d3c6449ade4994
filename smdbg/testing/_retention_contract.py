"""The retention part of the store contract: raw tensors of old steps dropped at compaction
(reductions and scalars kept, readers that opened before the rewrite keep working), background
compaction with retention beside a live reader, and the storage budget.

Mixed into :class:`smdbg.testing.store_contract.StoreContract`; every backend runs it.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from smdbg.exceptions import RawTensorDropped, TensorUnavailableForStep
from smdbg.store import BackgroundWriter, Record
from smdbg.store.compact import CompactionResult, compact_trial
from smdbg.testing._long_run_contract import segment_names
from smdbg.trials import create_trial

__all__ = ["RetentionContract", "W", "step_records", "write_run", "check_retained"]

W = np.arange(64, dtype=np.float32)


def step_records(step: int) -> list[Record]:
    """A loss (a one-element raw tensor), a raw weight and two of its reductions."""
    w = W + step
    return [
        Record("loss", ("losses",), "raw", float(step), "float32", (1,), np.array([step], np.float32)),
        Record("w", ("weights",), "raw", None, "float32", w.shape, w),
        Record("w", ("weights",), "mean", float(w.mean()), "float32", None, None),
        Record("w", ("weights",), "abs_max", float(np.abs(w).max()), "float32", None, None),
    ]


def write_run(url: str, steps: int, per_flush: int = 5, **kw: object) -> None:
    """``steps`` steps of :func:`step_records`, a segment every ``per_flush`` steps."""
    with BackgroundWriter(url, compact_secs=None, flush_secs=60, **kw) as writer:  # type: ignore[arg-type]
        for step in range(steps):
            writer.add(step, "TRAIN", step, step_records(step))
            writer.set_progress(step, "TRAIN", step)
            if step % per_flush == per_flush - 1:
                writer.flush()


def _expect(error: type[Exception], fn: object, match: str = "") -> None:
    try:
        fn()  # type: ignore[operator]
    except error as e:
        assert match in str(e), (match, str(e))
        return
    raise AssertionError(f"expected {error.__name__}")


def check_retained(url: str, steps: int, keep: int) -> None:
    """Reductions and scalars of every step; raw of recent steps only, a clear error before."""
    trial = create_trial(url, timeout=5)
    assert trial.steps() == list(range(steps))
    w, loss = trial.tensor("w"), trial.tensor("loss")
    s, v = w.history("mean")
    np.testing.assert_allclose(v, [float((W + i).mean()) for i in range(steps)])
    assert s.tolist() == list(range(steps))
    np.testing.assert_array_equal(loss.history()[1], np.arange(steps, dtype=np.float64))
    np.testing.assert_array_equal(loss.value(0), [0.0])  # a scalar's raw row is kept
    cutoff = steps - 1 - keep
    for step in range(cutoff, steps):
        np.testing.assert_array_equal(w.value(step), W + step)
    _expect(RawTensorDropped, lambda: w.value(cutoff - 1), f"keep_raw_steps={keep}:")
    _expect(TensorUnavailableForStep, lambda: w.value(0))  # what rules already catch
    assert w.reduction_value(0, "max", abs=True) == float(W.max())


def _retain_beside_a_reader(url: str, small_bytes: int) -> CompactionResult:
    """Compact with retention under a reader that read the run before; it keeps working."""
    write_run(url, 40)
    trial = create_trial(url, timeout=5)
    w = trial.tensor("w")
    means = w.history("mean")[1].copy()
    (result,) = compact_trial(url, keep_raw_steps=12, small_bytes=small_bytes)
    np.testing.assert_array_equal(w.history("mean")[1], means)
    np.testing.assert_array_equal(w.value(28), W + 28)  # its segment was replaced: found again
    _expect(RawTensorDropped, lambda: w.value(3), "keep_raw_steps=12")
    assert trial.steps() == list(range(40))
    check_retained(url, 40, 12)
    return result


class RetentionContract:
    """Retention and the storage budget on every backend."""

    def test_compact_with_retention_keeps_reductions_and_scalars(self, store_url: str) -> None:
        write_run(store_url, 60)
        assert len(segment_names(store_url)) == 12
        (result,) = compact_trial(store_url, keep_raw_steps=10)
        assert result.dropped_raw == 60 - 11 and result.merged == 1
        assert len(segment_names(store_url)) == 1
        check_retained(store_url, 60, 10)
        # Once more with a smaller window: the already-compacted segment is rewritten in place.
        (again,) = compact_trial(store_url, keep_raw_steps=3)
        assert (again.thinned, again.dropped_raw) == (1, 7)
        check_retained(store_url, 60, 3)
        (idle,) = compact_trial(store_url, keep_raw_steps=3)
        assert (idle.thinned, idle.dropped_raw) == (0, 0)

    def test_reader_opened_before_retention_follows_the_rewrite(self, store_url: str) -> None:
        # every segment counts as large: old ones are rewritten one by one, none merged
        result = _retain_beside_a_reader(store_url, small_bytes=1)
        assert result.merged == 0 and result.thinned == 6

    def test_reader_opened_before_retention_follows_the_merge(self, store_url: str) -> None:
        result = _retain_beside_a_reader(store_url, small_bytes=16 << 20)
        assert result.merged == 1 and len(segment_names(store_url)) == 1

    def test_background_compaction_with_retention_and_a_live_reader(self, store_url: str) -> None:
        steps, keep = 120, 20
        errors: list[BaseException] = []
        done = threading.Event()

        def read() -> None:
            trial = create_trial(store_url, timeout=30, refresh_interval=0)
            try:
                while not done.is_set():
                    complete = trial.steps()
                    s, v = trial.tensor("w").history("mean") if complete else (np.zeros(0), np.zeros(0))
                    assert len(np.unique(s)) == len(s), "a step seen twice"
                    assert set(complete) <= set(s.tolist()), "a complete step missing"
                    np.testing.assert_allclose(v, (W.mean() + s).astype(np.float64), rtol=1e-6)
            except BaseException as e:  # noqa: BLE001 - reported by the test thread
                errors.append(e)

        with BackgroundWriter(store_url, compact_secs=0.05, flush_secs=60, keep_raw_steps=keep) as writer:
            writer.add(0, "TRAIN", 0, step_records(0))
            writer.flush()
            reader = threading.Thread(target=read)
            reader.start()
            for step in range(1, steps):
                writer.add(step, "TRAIN", step, step_records(step))
                writer.set_progress(step, "TRAIN", step)
                writer.flush()
            compactor = writer._compactor
            # let two whole rounds run over the last segments (at most a minute): counted from
            # now, since a round that started earlier (a merge process starting) saw fewer
            until = (compactor.rounds if compactor is not None else 0) + 2
            for _ in range(1200):
                if compactor is None or compactor.rounds >= until or compactor.error is not None:
                    break
                done.wait(0.05)
        done.set()
        reader.join(60)
        assert not errors, errors[0]
        assert any(s.compacted for s in segment_names(store_url))
        w = create_trial(store_url, timeout=5).tensor("w")
        np.testing.assert_allclose(w.history("abs_max")[1], [float(W.max()) + i for i in range(steps)])
        _expect(RawTensorDropped, lambda: w.value(0))
        np.testing.assert_array_equal(w.value(steps - 1), W + steps - 1)

    def test_size_budget_warns_once(self, store_url: str) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_run(store_url, 30, size_budget_bytes=4000)
        budget = [w for w in caught if "size_budget_bytes" in str(w.message)]
        assert len(budget) == 1, [str(w.message) for w in caught]
        text = str(budget[0].message)
        assert "worker 'worker_0'" in text and store_url.rstrip("/") in text and "keep-raw-steps" in text
        assert create_trial(store_url, timeout=5).steps() == list(range(30))  # writing went on
