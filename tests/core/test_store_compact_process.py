"""Background merges in a child process (smdbg.store._merge_worker) and on the writer's thread:
the same trials, a killed or missing child, a bad input, no child left after close."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smdbg.store import BackgroundWriter, open_fs
from smdbg.store._background import BackgroundCompactor
from smdbg.store._merge_process import MergeProcess
from smdbg.store.compact import Compactor, plan_full
from smdbg.testing._long_run_contract import LongRunContract, _write_small_segments, segment_names
from smdbg.testing._steps import write_steps
from smdbg.trials import create_trial

WRITER = str(Path(__file__).with_name("_writer_proc.py"))


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "trial")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/runs/trial"


def _alive(pid: int) -> bool:
    """Running (a zombie that no one has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(cond: object, what: str, limit: float = 60.0) -> None:
    """Wait for an event (not a timing assertion: the bound only keeps a broken run finite)."""
    end = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.02)


def _compactor(w: BackgroundWriter) -> BackgroundCompactor:
    assert w._compactor is not None
    return w._compactor


@pytest.mark.parametrize("mode", ["1", "0"])
def test_same_trial_with_the_child_and_on_the_thread(
    store_url: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """Readers beside a compacting writer (the contract's check), in both modes."""
    monkeypatch.setenv("SMDBG_COMPACT_PROCESS", mode)
    LongRunContract().test_background_compaction_beside_a_reader(store_url)


@pytest.mark.parametrize("mode", ["1", "0"])
def test_merged_rows_and_manifest_match(store_url: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_COMPACT_PROCESS", mode)
    w = BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=0.02)
    w.write_trial_metadata({"num_workers": 1})
    saved = {}
    for k in range(0, 64, 2):
        saved.update(write_steps(w, range(k, k + 2), seed=k))
        w.flush()
    comp = _compactor(w)
    _wait(lambda: any(s.compacted for s in segment_names(store_url)), "a merge")
    pid = comp.process.pid if comp.process is not None else None
    w.close()
    if mode == "1":
        assert comp.process is not None and comp.process.started >= 1 and not comp.process.on_thread
        assert pid is None or not _alive(pid), "the merge worker outlived the writer"
    else:
        assert comp.process is None
    trial = create_trial(store_url, timeout=5)
    assert trial.steps() == list(range(64))
    for s in (0, 31, 63):
        np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(s), saved[s])
    listed = {str(s) for s in segment_names(store_url)}
    assert set(comp.compactor.manifest.names()) == listed  # the manifest names what is there


def test_memory_store_merges_on_the_thread() -> None:
    url = "memory://smdbg-proc/trial"
    with BackgroundWriter(url, "worker_0", compact_secs=0.02) as w:
        assert _compactor(w).process is None


def test_bad_setting_is_refused_before_the_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMDBG_COMPACT_PROCESS", "maybe")
    with pytest.raises(ValueError, match="SMDBG_COMPACT_PROCESS='maybe'"):
        BackgroundWriter(tmp_path / "t", "worker_0")
    monkeypatch.setenv("SMDBG_COMPACT_PROCESS", "1")
    BackgroundWriter(tmp_path / "t", "worker_0").close()  # no lease was left behind


def test_child_killed_mid_run_is_restarted_and_the_trial_is_complete(store_url: str) -> None:
    w = BackgroundWriter(store_url, "worker_0", flush_secs=60, compact_secs=0.02)
    w.write_trial_metadata({"num_workers": 1})
    comp = _compactor(w)
    assert comp.process is not None
    saved: dict[int, np.ndarray] = {}
    killed: list[int] = []
    step = 0
    while len(killed) < 1 or step < 200:
        saved.update(write_steps(w, range(step, step + 2), seed=step))
        w.flush()
        step += 2
        pid = comp.process.pid
        if not killed and pid is not None:
            os.kill(pid, signal.SIGKILL)  # whatever it was doing: idle, reading, writing
            killed.append(pid)
        assert step < 100_000, "the merge worker never started"
    _wait(lambda: comp.process is not None and comp.process.started >= 2, "a restart")
    w.close()
    assert comp.error is None and not comp.process.on_thread
    assert not _alive(killed[0])
    trial = create_trial(store_url, timeout=5)
    assert trial.steps() == list(range(step))
    history, _ = trial.tensor("Loss_output_0").history()
    assert history.tolist() == list(range(step)), "a step lost or seen twice"
    for s in (0, step // 2, step - 1):
        np.testing.assert_array_equal(trial.tensor("Net_fc.weight").value(s), saved[s])


def test_child_that_cannot_start_falls_back_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    url = str(tmp_path / "trial")
    _write_small_segments(url, 8, compact_secs=None)
    fs = open_fs(url)
    comp = Compactor(fs, "worker_0")
    comp.manifest.load_existing(str(s) for s in comp.listing())
    proc = MergeProcess(fs.address() or ("", {}), comp.compute)
    comp.compute = proc
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with caplog.at_level(logging.WARNING, logger="smdbg.store._merge_process"):
        before, after, merged = comp.run(plan_full)
    assert (before, after, merged) == (8, 1, 1) and proc.on_thread
    assert "merging on a thread" in caplog.text
    assert create_trial(url, timeout=5).steps() == list(range(16))
    proc.close()


def test_bad_input_is_left_alone_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = str(tmp_path / "trial")
    _write_small_segments(url, 6, compact_secs=None)
    names = segment_names(url)
    bad = tmp_path / "trial" / "events" / "worker_0" / str(names[2])
    bad.write_bytes(bad.read_bytes()[:-40] + b"\0" * 40)  # a damaged footer
    fs = open_fs(url)
    comp = Compactor(fs, "worker_0")
    comp.manifest.load_existing(str(s) for s in comp.listing())
    proc = MergeProcess(fs.address() or ("", {}), comp.compute)
    comp.compute = proc
    with caplog.at_level(logging.WARNING, logger="smdbg.store.compact"):
        assert comp.run(plan_full)[2] == 0
    assert list(comp.bad) == [f"events/worker_0/{names[2]}"] and str(names[2]) in caplog.text
    assert segment_names(url) == names and not proc.on_thread  # nothing removed; the child answered
    pid = proc.pid
    proc.close()
    assert pid is not None and not _alive(pid)


def test_child_ends_when_the_writer_process_is_killed(tmp_path: Path) -> None:
    """The merge worker reads EOF on its stdin when its parent dies, and exits."""
    trial = tmp_path / "trial"
    writer = subprocess.Popen(
        [sys.executable, WRITER, str(trial), "forever", "0", "0.005", "64", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        workers: list[int] = []

        def find() -> bool:
            workers[:] = [p for p in _children(writer.pid) if b"smdbg.store._merge_worker" in _cmdline(p)]
            return bool(workers)

        _wait(find, "the writer's merge worker")
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    _wait(lambda: not _alive(workers[0]), "the merge worker's exit after its parent died")


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
