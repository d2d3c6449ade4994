"""The trial-store contract, as a pytest suite every storage backend runs.

Subclass :class:`StoreContract` in a test module and provide a ``store_url`` fixture that
returns a fresh, empty trial location (a local directory, ``s3://bucket/prefix``, ...)::

    class TestMyBackend(StoreContract):
        @pytest.fixture
        def store_url(self, tmp_path):
            return str(tmp_path / "trial")
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np

from smdbg.exceptions import (
    CorruptSegmentError,
    NoMoreData,
    StepNotYetAvailable,
    TensorUnavailable,
    TensorUnavailableForStep,
    WriterClosedError,
)
from smdbg.store import BackgroundWriter, Record, TrialReader, open_fs
from smdbg.store.control import read_stop_request, request_stop
from smdbg.store.format import EVENTS_DIR, SegmentName
from smdbg.testing._long_run_contract import LongRunContract
from smdbg.testing._manifest_contract import ManifestIndexContract
from smdbg.testing._retention_contract import RetentionContract
from smdbg.testing._steps import write_steps
from smdbg.trials import create_trial

__all__ = ["StoreContract", "write_steps"]


class StoreContract(LongRunContract, ManifestIndexContract, RetentionContract):
    """Behaviour every trial-store backend must have (the long-run parts: :class:`LongRunContract`,
    :class:`ManifestIndexContract`, :class:`RetentionContract`)."""

    def test_round_trip(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0", flush_secs=0.1) as w:
            w.write_trial_metadata({"framework": "contract", "num_workers": 1})
            saved = write_steps(w, range(20))
        t = create_trial(store_url, timeout=5)
        assert t.training_has_ended()
        assert t.steps() == list(range(20))
        assert t.tensor_names() == ["Loss_output_0", "Net_fc.weight"]
        assert t.tensor_names(collection="weights") == ["Net_fc.weight"]
        tensor = t.tensor("Net_fc.weight")
        np.testing.assert_array_equal(tensor.value(7), saved[7])
        assert tensor.value(7).dtype == np.float32
        assert tensor.reduction_value(7, "l2") == np.linalg.norm(saved[7].astype(np.float64))
        # Not saved as a reduction: computed from the raw tensor.
        assert np.isclose(tensor.reduction_value(7, "max", abs=True), np.abs(saved[7]).max())
        steps, values = tensor.history("mean")
        assert steps.tolist() == list(range(20))
        np.testing.assert_allclose(values, [saved[s].astype(np.float64).mean() for s in range(20)])
        _, losses = t.tensor("Loss_output_0").history()
        np.testing.assert_allclose(losses, np.arange(20) * 0.5)

    def test_segments_hold_many_steps(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0", flush_secs=60) as w:
            write_steps(w, range(200))
        fs = open_fs(store_url)
        names = [n for n in fs.list_dir(f"{EVENTS_DIR}/worker_0") if SegmentName.parse(n)]
        assert len(names) == 1, names
        assert SegmentName.parse(names[0]).first_step == 0  # type: ignore[union-attr]
        assert SegmentName.parse(names[0]).last_step == 199  # type: ignore[union-attr]

    def test_reader_sees_new_segments_while_writing(self, store_url: str) -> None:
        w = BackgroundWriter(store_url, "worker_0", flush_secs=0.1)
        w.write_trial_metadata({"num_workers": 1})
        write_steps(w, range(5))
        w.flush()
        t = create_trial(store_url, timeout=5, refresh_interval=0)
        assert t.steps() == [0, 1, 2, 3, 4]
        assert not t.training_has_ended()
        try:
            t.tensor("Net_fc.weight").value(10)
            raise AssertionError("expected StepNotYetAvailable")
        except StepNotYetAvailable:
            pass
        write_steps(w, range(5, 12))
        w.flush()
        t.wait_for_steps([11], timeout=10)
        assert t.tensor("Net_fc.weight").steps()[-1] == 11
        w.close()
        assert t.training_has_ended()
        try:
            t.tensor("Net_fc.weight").value(50)
            raise AssertionError("expected NoMoreData")
        except NoMoreData:
            pass

    def test_step_complete_only_when_every_worker_passed_it(self, store_url: str) -> None:
        w0 = BackgroundWriter(store_url, "worker_0", flush_secs=0.1)
        w1 = BackgroundWriter(store_url, "worker_1", flush_secs=0.1)
        w0.write_trial_metadata({"num_workers": 2})
        write_steps(w0, range(10))
        write_steps(w1, range(4))
        w0.flush()
        w1.flush()
        t = create_trial(store_url, timeout=5, refresh_interval=0)
        assert t.workers() == ["worker_0", "worker_1"]
        assert t.last_complete_step() == 3
        assert t.steps() == [0, 1, 2, 3]
        assert t.steps(show_incomplete_steps=True) == list(range(10))
        assert t.tensor("Net_fc.weight").workers(2) == ["worker_0", "worker_1"]
        w0.close()
        write_steps(w1, range(4, 10))
        w1.close()
        assert t.training_has_ended()
        assert t.steps() == list(range(10))

    def test_progress_never_claims_unpublished_steps(self, store_url: str) -> None:
        """Every progress.json the writer publishes covers only steps already in published segments."""
        w = BackgroundWriter(store_url, "worker_0", flush_secs=0.2)
        log: list[tuple[str, int]] = []
        real = w.sink.fs

        class Recording:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def write_atomic(self, path: str, data: object, fsync: bool = True) -> None:
                real.write_atomic(path, data, fsync)  # type: ignore[arg-type]
                name = path.rsplit("/", 1)[-1]
                seg = SegmentName.parse(name)
                if seg is not None:
                    log.append(("segment", seg.last_step))
                elif name == "progress.json":
                    log.append(("progress", int(json.loads(bytes(data))["step"])))  # type: ignore[call-overload]

        w.sink.fs = Recording()  # type: ignore[assignment]
        write_steps(w, range(0, 3))
        deadline = time.monotonic() + 10
        while not any(kind == "segment" for kind, _ in log) and time.monotonic() < deadline:
            time.sleep(0.01)
        # New records arrive a while after that segment; the progress timer comes due before
        # their segment does: the writer must not publish a progress that covers them yet.
        time.sleep(0.12)
        write_steps(w, range(3, 6))
        time.sleep(0.15)
        for step in range(6, 60, 3):
            write_steps(w, range(step, step + 3))
            time.sleep(0.02)
        w.close()
        published = -1
        progress_writes = 0
        for kind, value in log:
            if kind == "segment":
                published = max(published, value)
            else:
                progress_writes += 1
                assert value <= published + 1, (
                    f"progress says steps < {value} are done; published up to {published}"
                )
        assert progress_writes >= 3

    def test_large_raw_segments_are_grouped_by_tensor(self, store_url: str) -> None:
        """Raw-heavy segments are cut into row groups by tensor; reads fetch only what they need."""
        rng = np.random.default_rng(3)
        saved: dict[tuple[str, int], np.ndarray] = {}
        with BackgroundWriter(store_url, "worker_0", flush_secs=60) as w:
            for step in range(24):
                recs = []
                for name in ("b.weight", "a.weight"):
                    arr = rng.standard_normal((256, 256)).astype(np.float32)  # 256 KiB
                    saved[(name, step)] = arr
                    recs.append(Record(name, ("weights",), "raw", None, "float32", arr.shape, arr))
                w.add(step, "TRAIN", step, recs)
        t = create_trial(store_url, timeout=5)
        assert t.tensor("a.weight").steps() == list(range(24))  # reads the segment's index
        reader = TrialReader(store_url)
        reader.refresh()
        # Opened from the manifest; a first query of one tensor reads only its row groups.
        assert len(reader.tensor_cols("a.weight")["step"]) == reader.nrows == 24
        reader._load_deferred()  # the rest of the segment
        assert reader.segments[0].rg_starts[1:], "expected several row groups"
        for name in ("a.weight", "b.weight"):
            for step in (0, 11, 23):
                np.testing.assert_array_equal(t.tensor(name).value(step), saved[(name, step)])
        assert sorted(t.tensor("a.weight").values()) == list(range(24))

    def test_damage_in_a_large_segment_is_found_when_read(self, store_url: str) -> None:
        """Large segments open from their index columns; a damaged raw page is named when read."""
        from smdbg.store._parquet import page_checksums_supported

        data = np.random.default_rng(4).standard_normal((24, 512, 512)).astype(np.float32)  # 1 MiB a step
        with BackgroundWriter(store_url, "worker_0", flush_secs=60) as w:
            for step in range(24):
                w.add(
                    step,
                    "TRAIN",
                    step,
                    [Record("w", ("weights",), "raw", None, "float32", (512, 512), data[step])],
                )
                w.add(
                    step,
                    "TRAIN",
                    step,
                    [Record("loss", ("losses",), "raw", 1.0, "float32", (), np.float32(1).tobytes())],
                )
        fs = open_fs(store_url)
        (seg,) = [n for n in fs.list_dir(f"{EVENTS_DIR}/worker_0") if SegmentName.parse(n)]
        path = f"{EVENTS_DIR}/worker_0/{seg}"
        body = bytearray(fs.read_bytes(path))
        body[len(body) // 3] ^= 0x40  # inside the raw data pages
        fs.write_atomic(path, bytes(body))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = create_trial(
                store_url, timeout=5, on_corrupt="raise" if page_checksums_supported() else "warn"
            )
        if not page_checksums_supported():  # whole-file CRC at open instead
            assert seg in next(iter(t.corrupt_segments.values()))
            return
        assert t.tensor("loss").steps() == list(range(24))  # the index is intact and readable
        damaged = 0
        for step in range(24):
            try:
                np.testing.assert_array_equal(t.tensor("w").value(step), data[step])
            except CorruptSegmentError as e:
                assert seg in str(e)
                damaged += 1
        assert damaged >= 1

    def test_missing_tensor_and_step_errors(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0", flush_secs=0.1) as w:
            write_steps(w, range(0, 10, 2))
            w.add(20, "TRAIN", 20, [Record("only_late", ("default",), "mean", 1.0, "float32", None, None)])
        t = create_trial(store_url, timeout=5)
        try:
            t.tensor("nope")
            raise AssertionError("expected TensorUnavailable")
        except TensorUnavailable as e:
            assert "nope" in str(e)
        try:
            t.tensor("Net_fc.weight").value(20)
            raise AssertionError("expected TensorUnavailableForStep")
        except TensorUnavailableForStep as e:
            assert "20" in str(e)

    def test_corrupt_segment_is_named_and_the_rest_stays_readable(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0", flush_secs=0.1) as w:
            write_steps(w, range(5))
            w.flush()
            write_steps(w, range(5, 10), seed=1)
        fs = open_fs(store_url)
        segs = sorted(n for n in fs.list_dir(f"{EVENTS_DIR}/worker_0") if SegmentName.parse(n))
        assert len(segs) == 2
        path = f"{EVENTS_DIR}/worker_0/{segs[0]}"
        body = bytearray(fs.read_bytes(path))
        body[len(body) // 2] ^= 0xFF
        fs.write_atomic(path, bytes(body))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = create_trial(store_url, timeout=5)
            # Segments known from the manifest are verified when first read (here: asked about).
            assert list(t.corrupt_segments) == [path]
        assert any(segs[0] in str(c.message) for c in caught)
        assert t.tensor("Loss_output_0").history()[0].tolist() == list(range(5, 10))
        try:
            create_trial(store_url, timeout=5, on_corrupt="raise").to_arrow()
            raise AssertionError("expected CorruptSegmentError")
        except CorruptSegmentError as e:
            assert segs[0] in str(e)

    def test_truncated_segment(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0", flush_secs=0.1) as w:
            write_steps(w, range(3))
        fs = open_fs(store_url)
        (seg,) = [n for n in fs.list_dir(f"{EVENTS_DIR}/worker_0") if SegmentName.parse(n)]
        fs.write_atomic(f"{EVENTS_DIR}/worker_0/{seg}", fs.read_bytes(f"{EVENTS_DIR}/worker_0/{seg}")[:100])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = create_trial(store_url, timeout=5)
            assert seg in next(iter(t.corrupt_segments.values()))  # verified when read (asking reads)
        assert t.steps() == []

    def test_writing_after_close_raises(self, store_url: str) -> None:
        w = BackgroundWriter(store_url, "worker_0")
        w.close()
        w.close()  # idempotent
        try:
            w.add(0, "TRAIN", 0, [Record("x", (), "mean", 1.0, "float32", None, None)])
            raise AssertionError("expected WriterClosedError")
        except WriterClosedError:
            pass

    def test_stop_request(self, store_url: str) -> None:
        with BackgroundWriter(store_url, "worker_0") as w:
            write_steps(w, range(2))
        assert read_stop_request(store_url) is None
        request_stop(store_url, "loss exploded", rule="exploding_tensor")
        doc = read_stop_request(store_url)
        assert doc is not None and doc["reason"] == "loss exploded"
        assert create_trial(store_url, timeout=5).stop_requested()["rule"] == "exploding_tensor"  # type: ignore[index]

    def test_lag_from_save_to_visible(self, store_url: str) -> None:
        w = BackgroundWriter(store_url, "worker_0")  # default flush_secs
        w.write_trial_metadata({"num_workers": 1})
        write_steps(w, range(3))
        t0 = time.monotonic()
        t = create_trial(store_url, timeout=5, refresh_interval=0)
        while 2 not in t.steps() and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        lag = time.monotonic() - t0
        w.close()
        assert 2 in t.steps(), f"step not visible after {lag:.1f}s"
