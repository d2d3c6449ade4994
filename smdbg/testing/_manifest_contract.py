"""The index part of the store contract: a first query of one tensor reads only the segments
holding it, and of those only the row groups holding its rows (the manifest's ``tensor_rows``),
also after compaction (rows clustered by tensor); old manifests without them stay readable, and
a manifest that disagrees with a segment loses to it (with a warning).

Mixed into :class:`smdbg.testing.store_contract.StoreContract`; every backend runs it.
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np

from smdbg.store import BackgroundWriter, Record, TrialReader, open_fs
from smdbg.store.compact import compact_trial
from smdbg.store.format import EVENTS_DIR, INDEX_COLUMNS, MANIFEST_FILE
from smdbg.testing._counting import CountingFS
from smdbg.testing._steps import write_steps
from smdbg.trials import Trial, create_trial

__all__ = ["ManifestIndexContract", "table_rows"]

W0 = f"{EVENTS_DIR}/worker_0"
GRAD = "Net_fc.grad"


def table_rows(trial: Trial) -> list[tuple[object, ...]]:
    """Every stored value of a trial as sorted (step, tensor, reduction, worker, value) tuples."""
    table = trial.to_arrow()
    cols = [table.column(c).to_pylist() for c in ("step", "tensor", "reduction", "worker", "value")]
    cols[-1] = [None if v != v else v for v in cols[-1]]  # NaN (raw rows) compares unequal
    return sorted(zip(*cols), key=repr)


def write_sparse(store_url: str, pairs: int = 6, every: int = 3) -> dict[int, np.ndarray]:
    """``pairs`` segments of two steps each; a gradient (raw + mean) only in every ``every``-th
    segment, at its first step (k: a vector of k)."""
    saved: dict[int, np.ndarray] = {}
    with BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=None) as w:
        w.write_trial_metadata({"framework": "contract", "num_workers": 1})
        for k in range(0, 2 * pairs, 2):
            if (k // 2) % every == 0:
                g = np.full(3, k, np.float32)
                w.set_progress(k, "TRAIN", k)
                w.add(k, "TRAIN", k, [
                    Record(GRAD, ("gradients",), "raw", None, "float32", g.shape, g),
                    Record(GRAD, ("gradients",), "mean", float(k), "float32", g.shape, None),
                ])  # fmt: skip
            saved.update(write_steps(w, range(k, k + 2), seed=k))
            w.flush()
    return saved


def _edit_manifest(store_url: str, edit: Any) -> None:
    fs = open_fs(store_url)
    doc = json.loads(fs.read_bytes(f"{W0}/{MANIFEST_FILE}"))
    edit(doc["segments"])
    fs.write_atomic(f"{W0}/{MANIFEST_FILE}", json.dumps(doc).encode())


class ManifestIndexContract:
    """Reading only what a query needs, from the manifest's per-tensor rows."""

    def test_first_query_of_a_tensor_reads_only_segments_holding_it(self, store_url: str) -> None:
        saved = write_sparse(store_url)
        doc = json.loads(open_fs(store_url).read_bytes(f"{W0}/{MANIFEST_FILE}"))
        first = doc["segments"][0]
        assert first["tensor_rows"][GRAD] == [[0, 2, 1, 0]] and first["tensor_steps"][GRAD] == [0, 0]
        assert first["tensor_steps"]["Net_fc.weight"] == [0, 1]
        reader = TrialReader(store_url)
        reader.refresh()
        assert reader.nrows == 0 and reader.stats.segment_reads == 0
        grad = reader.tensor_cols(GRAD)
        assert sorted(grad["step"].tolist()) == [0, 0, 6, 6]
        # Two of the six segments hold the gradient: only they were read (whole: one row group).
        assert (reader.stats.segment_reads, reader.nrows) == (2, 2 * (2 * 4 + 2))
        reader.tensor_cols("Net_fc.weight")
        assert (reader.stats.segment_reads, reader.nrows) == (6, 4 + 6 * 2 * 4)
        assert len(reader.cols["step"]) == 4 + 6 * 2 * 4  # nothing left to read
        assert reader.stats.segment_reads == 6
        trial = create_trial(store_url, timeout=5)
        g = trial.tensor(GRAD)
        assert g.history("mean")[0].tolist() == [0, 6] and g.history("mean")[1].tolist() == [0.0, 6.0]
        np.testing.assert_array_equal(g.value(6), np.full(3, 6, np.float32))
        np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(9), saved[9])
        assert trial.tensor("Loss_output_0").value(7).tolist() == 3.5
        whole = table_rows(trial)
        open_fs(store_url).remove(f"{W0}/{MANIFEST_FILE}")
        assert table_rows(create_trial(store_url, timeout=5)) == whole  # the same as read directly

    def test_manifest_without_tensor_rows_stays_readable(self, store_url: str) -> None:
        """A manifest written before entries carried tensor rows: segments are read whole."""
        saved = write_sparse(store_url)

        def strip(entries: list[dict[str, Any]]) -> None:
            for e in entries:
                e.pop("tensor_rows"), e.pop("tensor_steps")

        _edit_manifest(store_url, strip)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reader = TrialReader(store_url)
            reader.refresh()
            reader.tensor_cols(GRAD)
            assert (reader.stats.segment_reads, reader.nrows) == (2, 2 * (2 * 4) + 4)
            trial = create_trial(store_url, timeout=5)
            np.testing.assert_array_equal(trial.tensor(GRAD).value(6), np.full(3, 6, np.float32))
            np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(4), saved[4])
            assert trial.tensor("Loss_output_0").history()[0].tolist() == list(range(12))
        assert not [c for c in caught if "manifest" in str(c.message)]  # nothing to warn about
        compact_trial(store_url)  # writes the entries anew, with tensor rows
        doc = json.loads(open_fs(store_url).read_bytes(f"{W0}/{MANIFEST_FILE}"))
        assert all("tensor_rows" in e for e in doc["segments"])

    def test_manifest_rows_that_disagree_with_the_segment(self, store_url: str) -> None:
        """The segment wins: a wrong or malformed tensor_rows entry is reported and the segment
        is read whole."""
        write_sparse(store_url)
        names: list[str] = []

        def damage(entries: list[dict[str, Any]]) -> None:
            rows = entries[1]["tensor_rows"]  # the weight's rows claimed for the loss and back
            rows["Loss_output_0"], rows["Net_fc.weight"] = rows["Net_fc.weight"], rows["Loss_output_0"]
            entries[2]["tensor_rows"]["Loss_output_0"] = [[1000, 1, 2, 4]]  # past the end
            entries[4]["tensor_rows"] = {"Loss_output_0": "rows 3 and 7"}  # does not parse
            # (entries[1] is read whole, one row group: its rows never decide what is read)
            names.extend(e["name"] for e in (entries[2], entries[4]))

        _edit_manifest(store_url, damage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trial = create_trial(store_url, timeout=5)
            assert trial.tensor("Loss_output_0").history()[0].tolist() == list(range(12))
        text = [str(c.message) for c in caught]
        for name in names:
            assert any(name in t and "reading the segment whole" in t for t in text), (name, text)
        assert trial.tensor("Net_fc.weight").steps() == list(range(12))
        assert len(trial.tensor(GRAD).steps()) == 2

    def test_partly_read_segments_compacted_away(self, store_url: str) -> None:
        """Rows read per tensor (row groups of raw-heavy segments) stay valid, and rows not read
        yet are found, after compaction merged their segments away."""
        rng = np.random.default_rng(5)
        saved: dict[tuple[str, int], np.ndarray] = {}
        with BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=None) as w:
            for step in range(48):
                recs = []
                for name in ("b.weight", "a.weight"):  # 256 KiB each: segments sorted by tensor
                    saved[(name, step)] = arr = rng.standard_normal((256, 256)).astype(np.float32)
                    recs.append(Record(name, ("weights",), "raw", None, "float32", arr.shape, arr))
                    recs.append(Record(name, ("weights",), "mean", float(arr.mean()), "float32", None, None))
                w.set_progress(step, "TRAIN", step)
                w.add(step, "TRAIN", step, recs)
                if step == 23:
                    w.flush()
        reader = TrialReader(store_url)
        reader.refresh()
        trial = create_trial(store_url, timeout=5)
        a = trial.tensor("a.weight")
        assert a.steps() == list(range(48))
        assert trial.source.nrows == 2 * 48  # a's rows only: its row groups of both segments
        (result,) = compact_trial(store_url)
        assert result.merged == 1
        np.testing.assert_array_equal(a.value(30), saved[("a.weight", 30)])  # found in the merge
        assert trial.tensor("b.weight").steps() == list(range(48))  # not read before: found there
        np.testing.assert_array_equal(trial.tensor("b.weight").value(7), saved[("b.weight", 7)])
        assert table_rows(trial) == table_rows(create_trial(store_url, timeout=5))
        assert len(reader.tensor_cols("b.weight")["step"]) == 96  # a reader that read nothing yet

    def test_one_tensor_after_compaction_reads_only_its_row_groups(self, store_url: str) -> None:
        """A compacted segment holds its rows clustered by tensor: a first query of one tensor
        reads the row groups holding that tensor's history (counted through the backend)."""
        import pyarrow.parquet as pq

        names = [f"layer{i:02d}.weight" for i in range(40)]
        reductions = ("mean", "l2", "abs_max")
        vals = np.random.default_rng(3).standard_normal((600, len(names), len(reductions)))
        with BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=None) as w:
            for step in range(600):
                w.set_progress(step, "TRAIN", step)
                w.add(step, "TRAIN", step, [
                    Record(n, ("weights",), red, float(vals[step, i, j]), "float32", None, None)
                    for i, n in enumerate(names) for j, red in enumerate(reductions)
                ])  # fmt: skip
                if step % 75 == 74:
                    w.flush()
        (result,) = compact_trial(store_url)
        assert (result.segments_before, result.segments_after) == (8, 1)
        fs = open_fs(store_url)
        doc = json.loads(fs.read_bytes(f"{W0}/{MANIFEST_FILE}"))
        (entry,) = doc["segments"]
        assert entry["tensor_rows"]["layer07.weight"] == [[7 * 1800, 1800, 1, 0]]  # one block
        body = fs.read_bytes(f"{W0}/{entry['name']}")
        meta = pq.ParquetFile(io.BytesIO(body)).metadata
        index_bytes = sum(
            meta.row_group(g).column(c).total_compressed_size
            for g in range(meta.num_row_groups) for c in range(meta.num_columns)
            if meta.row_group(g).column(c).path_in_schema.split(".")[0] in INDEX_COLUMNS
        )  # fmt: skip
        assert meta.num_row_groups >= 10

        counting = CountingFS(fs)
        reader = TrialReader(counting, full_check_bytes=0)  # ranged reads, whatever the size
        reader.refresh()
        assert (counting.files, reader.nrows) == (0, 0)  # opening read the manifest only
        cols = reader.tensor_cols("layer07.weight")
        assert sorted(cols["step"].tolist()) == sorted(list(range(600)) * 3)
        red = np.asarray([reductions.index(r) for r in reader.reductions.names])[cols["reduction"]]
        np.testing.assert_array_equal(cols["value"], vals[cols["step"], 7, red])
        assert (reader.stats.segment_reads, reader.stats.row_groups) == (1, 1)
        assert counting.files == 1 and reader.nrows == 1800  # of its row group, its own rows
        assert reader.stats.index_bytes * 8 < index_bytes
        assert counting.bytes * 4 < len(body)  # the footer and one row group's index columns
        # The rest of the segment is read when asked for; the whole trial reads as written.
        assert len(reader.cols["step"]) == 40 * 1800
        trial = create_trial(store_url, timeout=5)
        steps, values = trial.tensor("layer39.weight").history("l2")
        assert steps.tolist() == list(range(600))
        np.testing.assert_array_equal(values, vals[:, 39, 1])
