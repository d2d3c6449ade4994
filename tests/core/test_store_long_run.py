"""Long runs across processes: a reader beside a compacting writer process, rule jobs following
a run whose writer died, and ``smdbg trial compact``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smdbg.rules import RuleJob, builtin_rule
from smdbg.store.format import EVENTS_DIR
from smdbg.testing._long_run_contract import _write_small_segments, segment_names
from smdbg.trials import create_trial

WRITER = str(Path(__file__).with_name("_writer_proc.py"))


def start_writer(trial: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, WRITER, str(trial), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


@pytest.mark.parametrize("mode", ["1", "0"])  # merges in the writer's child process / on its thread
def test_reader_process_beside_a_compacting_writer_process(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.setenv("SMDBG_COMPACT_PROCESS", mode)  # the writer process inherits it
    trial_dir = tmp_path / "live"
    proc = start_writer(trial_dir, "normal", "1000", "0.005", "64", "0.05")  # >= 5 s: >= 40 segments
    trial = create_trial(trial_dir, timeout=10, refresh_interval=0)
    trial.wait_for_steps([0], timeout=30)
    views = 0
    while not trial.training_has_ended():
        complete = trial.steps()
        steps, values = trial.tensor("loss").history()
        assert len(np.unique(steps)) == len(steps), "a step seen twice"
        assert complete == list(range(len(complete))), "a hole among complete steps"
        assert set(complete) <= set(steps.tolist())
        np.testing.assert_array_equal(values, steps.astype(np.float64))
        views += 1
    assert proc.wait(timeout=60) == 0
    assert any(s.compacted for s in segment_names(str(trial_dir))), "nothing was compacted"
    assert views > 3
    assert trial.steps() == list(range(1000)) and trial.end_reasons() == {}
    assert float(trial.tensor("w").value(123)[0]) == 123.0


def test_rule_job_following_a_killed_run_ends(tmp_path: Path) -> None:
    trial_dir = tmp_path / "killed"
    proc = start_writer(trial_dir, "forever", "0", "0.01")
    trial = create_trial(trial_dir, timeout=10, refresh_interval=0)
    trial.wait_for_steps([20], timeout=30)
    job = RuleJob(builtin_rule("exploding_tensor", trial), follow=True, poll_interval=0.1, timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    result = job.run()
    assert str(result.status) == "NoIssuesFound", result
    assert "training ended abnormally" in result.reason and f"pid {proc.pid}" in result.reason
    status = trial.rule_statuses()["exploding_tensor"]
    assert "ended abnormally" in status["reason"]


def smdbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smdbg.cli", "trial", *args], capture_output=True, text=True)


def test_trial_compact_command(tmp_path: Path) -> None:
    url = str(tmp_path / "t")
    _write_small_segments(url, 20, compact_secs=None)
    out = smdbg("compact", url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "worker_0: 20 -> 1 segments (1 merged)"
    assert create_trial(url, timeout=5).steps() == list(range(40))
    lease = {
        "host": "gpu-node-7",
        "pid": 4242,
        "run_id": "x",
        "started": time.time(),
        "heartbeat": time.time(),
    }
    (tmp_path / "t" / EVENTS_DIR / "worker_0" / "lease.json").write_text(json.dumps(lease))
    refused = smdbg("compact", url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "gpu-node-7" in refused.stderr and "pid 4242" in refused.stderr


def test_tensor_rows_naming_another_tensors_row_groups(tmp_path: Path) -> None:
    """A manifest entry whose tensor rows point at another tensor's row groups: the segment wins
    (a warning naming it, then the segment is read whole)."""
    import warnings

    from smdbg.store import BackgroundWriter, Record, TrialReader, open_fs
    from smdbg.store.format import MANIFEST_FILE

    url = str(tmp_path / "t")
    rng = np.random.default_rng(6)
    saved = {}
    with BackgroundWriter(url, "worker_0", flush_secs=60, compact_secs=None) as w:
        for step in range(24):
            recs = []
            for name in ("b.weight", "a.weight"):  # 256 KiB each: row groups sorted by tensor
                saved[(name, step)] = arr = rng.standard_normal((256, 256)).astype(np.float32)
                recs.append(Record(name, ("weights",), "raw", None, "float32", arr.shape, arr))
            w.add(step, "TRAIN", step, recs)
    fs = open_fs(url)
    path = f"{EVENTS_DIR}/worker_0/{MANIFEST_FILE}"
    doc = json.loads(fs.read_bytes(path))
    (entry,) = doc["segments"]
    rows = entry["tensor_rows"]
    assert rows["a.weight"] == [[0, 24, 1, 0]]  # sorted by tensor: a's rows come first
    rows["a.weight"], rows["b.weight"] = rows["b.weight"], rows["a.weight"]
    fs.write_atomic(path, json.dumps(doc).encode())
    reader = TrialReader(url)
    reader.refresh()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sorted(reader.tensor_cols("b.weight")["step"].tolist()) == list(range(24))
    assert any(entry["name"] in str(c.message) and "other rows" in str(c.message) for c in caught)
    assert reader.nrows == 48  # read whole
    trial = create_trial(url, timeout=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(trial.tensor("b.weight").value(5), saved[("b.weight", 5)])
