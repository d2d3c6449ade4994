"""A second run into a trial directory that already holds a worker's run is refused at the
writer open, before anything is written; other workers and an explicit append are allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smdbg.exceptions import StoreError, TrialExistsError
from smdbg.store import BackgroundWriter, Record
from smdbg.store.lease import LeaseHeldError
from smdbg.trials import create_trial


def _write(path: Path, worker: str, steps: range, **kwargs: object) -> None:
    with BackgroundWriter(path, worker, flush_secs=0.1, **kwargs) as w:  # type: ignore[arg-type]
        w.write_trial_metadata({"framework": "test", "num_workers": 1})
        for s in steps:
            w.add(
                s,
                "TRAIN",
                s,
                [Record("loss", ("losses",), "raw", float(s), "float32", (), np.float32(s).tobytes())],
            )


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_second_run_into_the_same_directory_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "exp1"
    _write(path, "worker_0", range(3))
    before = _files(path)
    with pytest.raises(TrialExistsError) as info:
        _write(path, "worker_0", range(3))
    msg = str(info.value)
    assert str(path) in msg and "worker_0" in msg and "training ended" in msg
    assert f"new out_dir (e.g. {path}-2)" in msg
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, StoreError)
    assert _files(path) == before  # nothing written, nothing lost
    assert create_trial(path).tensor("loss").history()[0].tolist() == [0, 1, 2]


def test_a_crashed_run_without_end_marker_is_refused_too(tmp_path: Path) -> None:
    w = BackgroundWriter(tmp_path / "t", "worker_0", flush_secs=0.1)
    w.add(0, "TRAIN", 0, [Record("loss", ("losses",), "raw", 1.0, "float32", (), np.float32(1).tobytes())])
    w.flush()  # published, not closed yet: its writer is alive
    with pytest.raises(LeaseHeldError, match="another writer is writing worker 'worker_0'"):
        BackgroundWriter(tmp_path / "t", "worker_0")
    w.close()
    # As a crash leaves it: no end marker (and close() already removed the lease).
    (tmp_path / "t" / "events" / "worker_0" / "END.json").unlink()
    with pytest.raises(TrialExistsError, match="1 segments\\)"):
        BackgroundWriter(tmp_path / "t", "worker_0")


def test_other_workers_and_explicit_append_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "t"
    _write(path, "worker_0", range(2))
    _write(path, "worker_1", range(2))  # another worker of the same trial
    _write(path, "worker_0", range(2, 4), append=True)  # continue worker_0's segments
    steps = create_trial(path).tensor("loss").history(worker="worker_0")[0].tolist()
    assert steps == [0, 1, 2, 3]
