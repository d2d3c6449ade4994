"""The long-run part of the store contract: compaction (with concurrent readers) and the manifest.

Mixed into :class:`smdbg.testing.store_contract.StoreContract`; every backend runs it.
"""

from __future__ import annotations

import json
import threading
import time
import warnings

import numpy as np

from smdbg.store import BackgroundWriter, open_fs
from smdbg.store.compact import compact_trial
from smdbg.store.format import EVENTS_DIR, MANIFEST_FILE, SegmentName
from smdbg.testing._steps import write_steps
from smdbg.trials import Trial, create_trial

__all__ = ["LongRunContract", "segment_names"]

W0 = f"{EVENTS_DIR}/worker_0"


def segment_names(store_url: str, worker_dir: str = W0) -> list[SegmentName]:
    return sorted(s for n in open_fs(store_url).list_dir(worker_dir) if (s := SegmentName.parse(n)))


def _write_small_segments(store_url: str, pairs: int, **kwargs: object) -> dict[int, np.ndarray]:
    """``pairs`` segments of two steps each (one flush per pair)."""
    saved: dict[int, np.ndarray] = {}
    with BackgroundWriter(store_url, "worker_0", flush_secs=60, **kwargs) as w:  # type: ignore[arg-type]
        w.write_trial_metadata({"framework": "contract", "num_workers": 1})
        for k in range(0, 2 * pairs, 2):
            saved.update(write_steps(w, range(k, k + 2), seed=k))
            w.flush()
    return saved


def _rows(trial: Trial) -> list[tuple[object, ...]]:
    table = trial.to_arrow()
    cols = [table.column(c).to_pylist() for c in ("step", "tensor", "reduction", "worker", "value")]
    cols[-1] = [None if v != v else v for v in cols[-1]]  # NaN (raw rows) compares unequal
    return sorted(zip(*cols), key=repr)


def _check_view(trial: Trial) -> int:
    """A live reader's view: no step twice, no hole among complete steps, values consistent."""
    complete = trial.steps()  # then the history: a later refresh may only add steps
    steps, _ = trial.tensor("Loss_output_0").history()
    assert len(np.unique(steps)) == len(steps), f"a step seen twice: {steps.tolist()}"
    assert complete == list(range(len(complete))), f"a hole among complete steps: {complete}"
    assert steps[steps <= (complete[-1] if complete else -1)].tolist() == complete
    if complete:
        s = complete[len(complete) // 2]
        w = trial.tensor("Net_fc.weight")
        assert np.isclose(w.value(s).astype(np.float64).mean(), w.reduction_value(s, "mean"))
    return len(complete)


class LongRunContract:
    """Compaction and manifest behaviour every trial-store backend must have."""

    def test_compaction_keeps_every_value_once(self, store_url: str) -> None:
        saved = _write_small_segments(store_url, 24, compact_secs=None)
        assert len(segment_names(store_url)) == 24
        before = create_trial(store_url, timeout=5)
        rows_before = _rows(before)
        live = create_trial(store_url, timeout=5, refresh_interval=0)
        np.testing.assert_array_equal(live.tensor("Net_fc.weight").value(3), saved[3])  # cached
        (result,) = compact_trial(store_url)
        assert (result.segments_before, result.segments_after, result.merged) == (24, 1, 1)
        (merged,) = segment_names(store_url)
        assert merged.compacted and (merged.seq, merged.seq_last) == (0, 23)
        assert (merged.first_step, merged.last_step) == (0, 47)
        after = create_trial(store_url, timeout=5)
        assert _rows(after) == rows_before and after.steps() == list(range(48))
        for s in (0, 17, 47):
            np.testing.assert_array_equal(after.tensor("Net_fc.weight").value(s), saved[s])
        # A reader that read the small segments before they were merged away keeps working.
        assert live.source.refresh() == 0
        assert _rows(live) == rows_before
        for s in (3, 20, 46):
            np.testing.assert_array_equal(live.tensor("Net_fc.weight").value(s), saved[s])
        assert live.tensor("Net_fc.weight").shape(30) == (8, 4)

    def test_background_compaction_beside_a_reader(self, store_url: str) -> None:
        """Readers following a run never see a step twice or miss one while segments merge."""
        w = BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=0.02)
        w.write_trial_metadata({"num_workers": 1})
        write_steps(w, range(2))
        w.flush()
        done = threading.Event()

        def train() -> None:
            try:
                for k in range(2, 100, 2):
                    write_steps(w, range(k, k + 2), seed=k)
                    w.flush()
                    time.sleep(0.002)
            finally:
                done.set()

        thread = threading.Thread(target=train)
        readers = [create_trial(store_url, timeout=5, refresh_interval=0)]
        thread.start()
        seen = 0
        while not done.is_set():
            for trial in readers:
                seen = max(seen, _check_view(trial))
            if len(readers) < 4:  # readers that open at different points of the run
                readers.append(create_trial(store_url, timeout=5, refresh_interval=0))
        thread.join()
        # The first merge may come after the last write (a merge child pays its start first, a
        # busy machine delays the round): readers keep checking until one is published.
        end = time.monotonic() + 120  # keeps a broken run finite; not a timing budget
        while not any(s.compacted for s in segment_names(store_url)):
            assert time.monotonic() < end, "the background compactor merged nothing"
            for trial in readers:
                seen = max(seen, _check_view(trial))
            time.sleep(0.05)
        for trial in readers:
            seen = max(seen, _check_view(trial))
        w.close()
        for trial in readers + [create_trial(store_url, timeout=5)]:
            assert _check_view(trial) == 100
            assert trial.tensor("Net_fc.weight").steps() == list(range(100))

    def test_open_reads_the_manifest_not_the_segments(self, store_url: str) -> None:
        saved = _write_small_segments(store_url, 6, compact_secs=None)
        doc = json.loads(open_fs(store_url).read_bytes(f"{W0}/{MANIFEST_FILE}"))
        assert len(doc["segments"]) == 6 and doc["tensor_collections"]["Loss_output_0"] == ["losses"]
        trial = create_trial(store_url, timeout=5)
        assert trial.source.nrows == 0  # nothing read yet
        assert trial.steps() == list(range(12))
        assert trial.tensor_names(collection="weights") == ["Net_fc.weight"]
        assert trial.source.nrows == 0
        # Segments compacted after the manifest was read are found in the compacted segment.
        compact_trial(store_url)
        np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(9), saved[9])
        assert trial.tensor("Loss_output_0").history()[0].tolist() == list(range(12))

    def test_manifest_that_disagrees_with_the_listing(self, store_url: str) -> None:
        _write_small_segments(store_url, 4, compact_secs=None)
        fs = open_fs(store_url)
        doc = json.loads(fs.read_bytes(f"{W0}/{MANIFEST_FILE}"))
        ghost = "000077_500-501_deadbeef.parquet"
        doc["segments"] = doc["segments"][1:] + [dict(doc["segments"][0], name=ghost, steps=[[500, 2, 1]])]
        fs.write_atomic(f"{W0}/{MANIFEST_FILE}", json.dumps(doc).encode())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trial = create_trial(store_url, timeout=5)
        assert any(ghost in str(c.message) and "listing wins" in str(c.message) for c in caught)
        assert trial.steps() == list(range(8))  # the unlisted first segment is read directly
        assert trial.tensor("Loss_output_0").history()[0].tolist() == list(range(8))
        fs.write_atomic(f"{W0}/{MANIFEST_FILE}", b"{not json")
        assert create_trial(store_url, timeout=5).steps() == list(range(8))

    # -- one writer per stream, and how streams end --------------------------------------------
    def test_second_writer_fails_naming_the_live_one(self, store_url: str) -> None:
        import os

        from smdbg.exceptions import TrialExistsError
        from smdbg.store.lease import LeaseHeldError
        w = BackgroundWriter(store_url, "worker_0")
        write_steps(w, range(3))
        try:
            BackgroundWriter(store_url, "worker_0")
            raise AssertionError("expected LeaseHeldError")
        except LeaseHeldError as e:
            assert f"pid {os.getpid()}" in str(e) and store_url.rstrip("/") in str(e)
        w.close()
        try:
            BackgroundWriter(store_url, "worker_0")  # a re-run into the finished trial
            raise AssertionError("expected TrialExistsError")
        except TrialExistsError as e:
            assert "overwrite=True" in str(e) and "END.json" in str(e)
        assert create_trial(store_url, timeout=5).steps() == [0, 1, 2]  # nothing lost
        with BackgroundWriter(store_url, "worker_0", overwrite=True) as again:
            write_steps(again, range(10, 12))
        assert create_trial(store_url, timeout=5).steps() == [10, 11]

    def test_dead_writers_lease(self, store_url: str) -> None:
        fs = open_fs(store_url)
        w = BackgroundWriter(store_url, "worker_0", compact_secs=None)
        write_steps(w, range(4))
        w.flush()
        live = create_trial(store_url, timeout=5, refresh_interval=0)
        assert not live.training_has_ended() and live.end_reasons() == {}
        # The writer's host went away: its lease stops being renewed.
        lease = json.loads(fs.read_bytes(f"{W0}/lease.json"))
        lease.update(host="gpu-node-7", pid=4242, heartbeat=time.time() - 3600)
        fs.write_atomic(f"{W0}/lease.json", json.dumps(lease).encode())
        assert live.training_has_ended()
        reason = live.end_reasons()["worker_0"]
        assert "no heartbeat" in reason and "gpu-node-7" in reason
        assert live.steps() == [0, 1, 2, 3]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            BackgroundWriter(store_url, "worker_0", append=True).close()  # continues it: takes the lease over
        assert any("taking over" in str(c.message) and "gpu-node-7" in str(c.message) for c in caught)

    def test_live_writer_on_another_host_blocks_compaction(self, store_url: str) -> None:
        from smdbg.store.lease import CorruptLeaseError, LeaseHeldError

        _write_small_segments(store_url, 3, compact_secs=None)
        fs = open_fs(store_url)
        fs.remove(f"{W0}/END.json")
        doc = {
            "host": "gpu-node-7",
            "pid": 4242,
            "run_id": "x",
            "started": time.time(),
            "heartbeat": time.time(),
        }
        fs.write_atomic(f"{W0}/lease.json", json.dumps(doc).encode())
        try:
            compact_trial(store_url)
            raise AssertionError("expected LeaseHeldError")
        except LeaseHeldError as e:
            assert "gpu-node-7" in str(e) and "pid 4242" in str(e)
        assert len(segment_names(store_url)) == 3  # untouched
        assert not create_trial(store_url, timeout=5).training_has_ended()
        # A corrupt lease: a clear error for compaction, a warning for readers and writers.
        fs.write_atomic(f"{W0}/lease.json", b"{half a lease")
        try:
            compact_trial(store_url)
            raise AssertionError("expected CorruptLeaseError")
        except CorruptLeaseError as e:
            assert "lease.json" in str(e) and "corrupt" in str(e)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trial = create_trial(store_url, timeout=5)
            assert trial.steps(show_incomplete_steps=True) == list(range(6))
            assert not trial.training_has_ended()
            BackgroundWriter(store_url, "worker_0", append=True).close()  # continues the crashed run
        assert sum("lease.json" in str(c.message) for c in caught) >= 2
        assert create_trial(store_url, timeout=5).training_has_ended()
