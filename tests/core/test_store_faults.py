"""Crashes, full disks, damaged and future segments, and a reader beside a live writer process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smdbg.exceptions import NoTrialFound, UnsupportedFormatVersion
from smdbg.store import BackgroundWriter, Record, open_fs
from smdbg.store.format import EVENTS_DIR, SegmentName
from smdbg.trials import create_trial

WRITER = str(Path(__file__).with_name("_writer_proc.py"))


def start_writer(trial: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, WRITER, str(trial), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def test_reader_follows_a_live_writer_process(tmp_path: Path) -> None:
    trial_dir = tmp_path / "live"
    proc = start_writer(trial_dir, "normal", "60", "0.03")
    trial = create_trial(trial_dir, timeout=10, refresh_interval=0)
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while not trial.training_has_ended() and time.monotonic() < deadline:
        steps = trial.steps()
        if steps and (not seen or steps[-1] > seen[-1]):
            seen.append(steps[-1])
        time.sleep(0.05)
    assert proc.wait(timeout=30) == 0
    assert len(seen) >= 3, f"the reader saw too few intermediate states: {seen}"
    assert seen[0] < 59  # seen before the end
    trial.wait_for_steps([59], timeout=5)
    assert trial.steps() == list(range(60))
    np.testing.assert_array_equal(trial.tensor("loss").history()[1], np.arange(60, dtype=np.float64))


def test_sigkill_leaves_only_whole_readable_segments(tmp_path: Path) -> None:
    trial_dir = tmp_path / "killed"
    proc = start_writer(trial_dir, "forever", "0", "0.001", "20000")
    fs = open_fs(trial_dir)
    deadline = time.monotonic() + 30
    while (
        len([n for n in fs.list_dir(f"{EVENTS_DIR}/worker_0") if SegmentName.parse(n)]) < 4
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    trial = create_trial(trial_dir, timeout=5)
    assert trial.corrupt_segments == {}
    # The killed writer's lease names a process that is gone: training ended, abnormally.
    assert trial.training_has_ended()
    (reason,) = trial.end_reasons().values()
    assert f"pid {proc.pid}" in reason and "gone" in reason
    steps = trial.steps(show_incomplete_steps=True)
    assert len(steps) > 10 and steps == list(range(len(steps)))  # a prefix, no holes
    for s in (0, steps[-1]):
        assert float(trial.tensor("w").value(s)[0]) == s


@pytest.mark.skipif(
    not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare to mount a tiny tmpfs"
)
def test_disk_full_reaches_the_training_code(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    for mode in ("fill", "fill-free"):  # space stays full / is freed before close()
        script = (
            f"mount -t tmpfs -o size=3m tmpfs {mnt} && head -c 1572864 /dev/zero > {mnt}/ballast && "
            f"exec {sys.executable} {WRITER} {mnt}/trial {mode} 0 0.002 100000"
        )
        out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert lines[0] == "started"
        result = json.loads(lines[-1])
        assert "No space left on device" in result["cause"] or "ENOSPC" in result["cause"], result
        assert "writing the trial" in result["error"]
        assert result["corrupt"] == {} and result["values_ok"] and len(result["steps"]) > 0
        assert result["ended"], result  # either way, readers see the end of training
        if mode == "fill":
            assert "records could not be written" in result["close"] and "ended abnormally" in result["close"]
            assert "write error" in result["end_reasons"]["worker_0"], result
        else:  # close() wrote what was buffered, then the end marker: a clean end, nothing lost
            assert result["close"] == "no error" and result["end_reasons"] == {}, result
            assert result["steps_after"] == list(range(result["failed_at"])), result


def test_newer_format_version_is_named_and_skipped(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from smdbg.store._segment import ColumnBuffer, encode_segment

    trial_dir = tmp_path / "future"
    with BackgroundWriter(trial_dir, "worker_0") as w:
        w.add(0, "TRAIN", 0, [Record("x", (), "mean", 1.0, "float32", None, None)])
    buf = ColumnBuffer()
    buf.extend(5, "TRAIN", 5, 0.0, [Record("x", (), "mean", 2.0, "float32", None, None)], 100)
    body, _ = encode_segment(buf, "worker_0")
    table = pq.read_table(pa.BufferReader(body))
    table = table.replace_schema_metadata({b"smdbg.format_version": b"99"})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    import zlib

    name = str(SegmentName(7, 5, 5, zlib.crc32(data)))
    open_fs(trial_dir).write_atomic(f"{EVENTS_DIR}/worker_0/{name}", data)
    with pytest.warns(UserWarning, match=f"{name}.*version 99"):
        trial = create_trial(trial_dir, timeout=2)
    assert trial.steps() == [0]
    with pytest.raises(UnsupportedFormatVersion, match=name):
        create_trial(trial_dir, timeout=2, on_corrupt="raise")


def test_path_without_trial_times_out_with_a_clear_error(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(NoTrialFound, match=f"no smdbg trial at .*{tmp_path.name}.*0.3s"):
        create_trial(tmp_path / "nothing", timeout=0.3)
    assert time.monotonic() - t0 < 5
