"""Reading a trial while a hook writes it: a reader in the training process sees every step the
hook has passed at once (its writer publishes when asked); a reader anywhere never gets an error
for data that is already published. No timing is asserted: only what the answers say."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

import smdbg
from smdbg.hooks.base import BaseHook
from smdbg.store import BackgroundWriter, Record
from smdbg.trials import StepState, create_trial

HERE = Path(__file__).parent


def _hook(path: Path, flush_secs: float) -> BaseHook:
    return BaseHook(path, save_config=smdbg.SaveConfig(save_interval=1), include_collections=["custom"],
                    flush_secs=flush_secs)  # fmt: skip


def _train_step(hook: BaseHook, step: int) -> None:
    hook.save_tensor("activ", np.full(3, float(step)), collections_to_write="custom")
    hook.save_scalar("loss", float(step))
    hook._advance()  # the step boundary a framework hook reaches on optimizer.step()


def test_reader_beside_a_live_hook_sees_every_passed_step(tmp_path: Path) -> None:
    """flush_secs=600: without the in-process publish nothing would be visible during the run."""
    hook = _hook(tmp_path / "run", flush_secs=600)
    _train_step(hook, 0)
    trial = create_trial(tmp_path / "run")
    errors: list[str] = []
    stop = threading.Event()

    def reader_thread() -> None:  # another reader of the same process, on its own thread
        t = create_trial(tmp_path / "run")
        checked = -1
        while not stop.is_set() or checked < 199:
            last = t.last_complete_step()
            for s in range(checked + 1, min(last, 199) + 1):
                try:
                    if t.tensor("activ").value(s)[0] != s:
                        errors.append(f"thread: value({s}) wrong")
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    errors.append(f"thread: value({s}): {type(e).__name__}: {e}")
            checked = max(checked, min(last, 199))

    th = threading.Thread(target=reader_thread)
    th.start()
    try:
        for step in range(1, 200):
            _train_step(hook, step)
            # step `step` is passed: visible now, with its value, and nothing beyond it
            assert trial.last_complete_step() == step
            assert trial.steps()[-1] == step
            assert trial.has_passed_step(step) == StepState.AVAILABLE
            assert trial.has_passed_step(step + 1) == StepState.NOT_YET_AVAILABLE
            assert trial.tensor("activ").value(step)[0] == step
            assert trial.tensor("loss").value(step - 1) == step - 1
    finally:
        stop.set()
        hook.close()
        th.join()
    assert errors == []
    assert create_trial(tmp_path / "run").steps() == list(range(200))


def test_reader_process_never_gets_a_spurious_error(tmp_path: Path) -> None:
    """A live hook here, a reader process polling every step as it comes: the only refusal it may
    see is StepNotYetAvailable (earlier, about 5% of its polls raised TensorUnavailableForStep)."""
    path = tmp_path / "live"
    steps = 400
    hook = _hook(path, flush_secs=0.05)
    _train_step(hook, 0)
    reader = subprocess.Popen([sys.executable, str(HERE / "_reader_proc.py"), str(path), str(steps), "activ"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for step in range(1, steps):
            _train_step(hook, step)
            threading.Event().wait(0.004)  # a training step's time: the reader waits at the front
    finally:
        hook.close()
    out, _ = reader.communicate(timeout=300)
    got = json.loads(out.strip().splitlines()[-1])
    assert got["spurious"] == [] and got["values"] == steps


def test_publish_pending(tmp_path: Path) -> None:
    w = BackgroundWriter(tmp_path / "p", "worker_0", flush_secs=600, compact_secs=None)
    assert w.publish_pending() is False  # nothing handed over
    w.set_progress(0, "TRAIN", 0)
    w.add(0, "TRAIN", 0, [Record("x", ("custom",), "raw", 1.0, "float32", (), np.float32(1).tobytes())])
    w.set_progress(1, "TRAIN", 1)
    assert w.publish_pending() is True
    assert w.publish_pending() is False  # already on storage
    t = create_trial(tmp_path / "p")
    assert t.steps() == [0]
    w.set_progress(2, "TRAIN", 2)  # progress alone is worth publishing: step 1 is now complete
    assert t.last_complete_step() == 1
    w.close()
    assert w.publish_pending() is False
