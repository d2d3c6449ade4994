"""smdebug's documented trial API, used the way its analysis notebooks use it (docs/analysis.md of
awslabs/sagemaker-debugger), with only the imports changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import smdbg
from smdbg import modes
from smdbg.analysis.utils import no_refresh, refresh
from smdbg.exceptions import NoTrialFound, StepNotYetAvailable, StepUnavailable, TensorUnavailable
from smdbg.store import BackgroundWriter, Record
from smdbg.store.compact import compact_trial
from smdbg.trials import LocalTrial, S3Trial, StepState, Trial, create_trial


def _records(step: int) -> list[Record]:
    w = np.full((2, 2), step, dtype=np.float32)
    return [
        Record("fc.weight", ("weights",), "raw", None, "float32", (2, 2), w),
        Record("gradient/fc.weight", ("gradients",), "mean", float(step), "float32", (2, 2), None),
        Record("CrossEntropyLoss_output_0", ("losses",), "raw", 10.0 - step, "float32", (),
               np.float32(10.0 - step).tobytes()),
    ]  # fmt: skip


def _write(path: Path | str, steps: list[int], *, close: bool = True, split: int = 0, eval_from: int | None = None,
           progress: int | None = None) -> BackgroundWriter:  # fmt: skip
    """Save ``steps`` (TRAIN, or EVAL from global step ``eval_from``); a segment every ``split`` steps."""
    w = BackgroundWriter(path, "worker_0", flush_secs=60, fsync=False, compact_secs=None)
    w.write_trial_metadata({"framework": "test", "num_workers": 1,
                            "collections": {"weights": {"name": "weights", "include_regex": ["weight$"]}}})  # fmt: skip
    for i, g in enumerate(steps):
        mode, ms = ("EVAL", g - eval_from) if eval_from is not None and g >= eval_from else ("TRAIN", g)
        w.set_progress(g, mode, ms)
        w.add(g, mode, ms, _records(g))
        if split and (i + 1) % split == 0:
            w.flush()
    last = steps[-1] + 1 if progress is None else progress
    w.set_progress(last)
    if close:
        w.close()
    else:
        w.flush()
    return w


@pytest.fixture
def run(tmp_path: Path) -> Path:
    _write(tmp_path / "run", list(range(0, 20, 2)))  # saved every 2 steps, 0..18
    return tmp_path / "run"


def test_create_trial_spellings(run: Path) -> None:
    t = create_trial(path=str(run), name="resnet_training_run")
    assert isinstance(t, LocalTrial) and isinstance(t, Trial) and t.name == "resnet_training_run"
    assert create_trial(str(run)).name == "run"  # the basename by default
    assert create_trial(out_dir=run).steps() == list(range(0, 20, 2))  # the hook's spelling
    assert create_trial(f"  {run}\n").path == str(run)  # stray whitespace, as smdebug strips it
    direct = LocalTrial("direct", str(run))
    assert direct.trial_dir == str(run) and direct.steps() == t.steps()
    with pytest.raises(ValueError, match="give one location"):
        create_trial(str(run), out_dir=str(run) + "-other")
    with pytest.raises(TypeError, match="needs the trial's location"):
        create_trial()
    with pytest.raises(NoTrialFound, match="nothing"):
        create_trial(run.parent / "nothing", timeout=0)
    assert issubclass(S3Trial, Trial)


def test_trials_module_without_importing_it_first() -> None:
    code = "import smdbg as smd, sys; assert 'smdbg.trials' not in sys.modules; print(smd.trials.create_trial.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "create_trial"


def test_range_steps_loads_only_those_steps(tmp_path: Path) -> None:
    path = tmp_path / "r"
    _write(path, list(range(30)), split=4)  # segments of 4 steps: ranges cut through some of them
    tr = create_trial(str(path), name="resnet_training", range_steps=(10, 20))
    assert tr.steps() == list(range(10, 20))
    assert tr.tensor("fc.weight").value(13)[0, 0] == 13
    with pytest.raises(StepUnavailable):
        tr.tensor("fc.weight").value(5)
    assert create_trial(str(path), range_steps=(None, 3)).steps() == [0, 1, 2]
    assert create_trial(str(path), range_steps=(25, None)).steps() == [25, 26, 27, 28, 29]
    assert create_trial(str(path), range_steps=None).steps() == list(range(30))
    compact_trial(str(path))  # one segment and a manifest: a range that cuts through it
    assert create_trial(str(path), range_steps=(7, 9)).tensor("fc.weight").steps() == [7, 8]
    for bad, msg in (((20, 10), "begin < end"), ((-1, None), "begin=-1"), (5, "pair"), (("a", 3), "begin='a'")):
        with pytest.raises(ValueError, match=msg):
            create_trial(str(path), range_steps=bad)  # type: ignore[arg-type]


def test_mode_mode_step_global_step(tmp_path: Path) -> None:
    _write(tmp_path / "m", list(range(15)), eval_from=10)
    t = create_trial(tmp_path / "m")
    assert t.mode(12) == modes.EVAL and t.mode_step(12) == 2
    assert t.mode(global_step=3) == modes.TRAIN and t.mode_step(global_step=3) == 3
    assert t.global_step(mode=modes.EVAL, mode_step=2) == 12
    assert t.global_step(modes.GLOBAL, 7) == 7
    with pytest.raises(smdbg.exceptions.NoMoreData, match="step 40"):
        t.mode(40)
    assert t.tensor("fc.weight").value(2, mode=modes.EVAL)[0, 0] == 12


def test_has_passed_step_finished_trial(run: Path) -> None:
    t = create_trial(run)
    assert t.has_passed_step(4) == StepState.AVAILABLE
    assert t.has_passed_step(5) == StepState.UNAVAILABLE  # skipped by the save interval
    assert t.has_passed_step(100) == StepState.UNAVAILABLE  # training ended before it
    assert t.has_passed_step(2, mode=modes.TRAIN) == StepState.AVAILABLE


def test_has_passed_step_live_trial(tmp_path: Path) -> None:
    w = _write(tmp_path / "live", [0, 1, 2, 4], close=False, progress=5)  # at step 5, 3 not saved
    try:
        t = create_trial(tmp_path / "live")
        assert [t.has_passed_step(s) for s in range(7)] == [
            StepState.AVAILABLE, StepState.AVAILABLE, StepState.AVAILABLE, StepState.UNAVAILABLE,
            StepState.AVAILABLE, StepState.NOT_YET_AVAILABLE, StepState.NOT_YET_AVAILABLE,
        ]  # fmt: skip
        w.set_progress(6)
        w.add(5, "TRAIN", 5, _records(5))
        assert t.has_passed_step(5) == StepState.AVAILABLE  # the writer is in this process: at once
        with pytest.raises(StepNotYetAvailable):
            t.tensor("fc.weight").value(6)
    finally:
        w.close()
    assert create_trial(tmp_path / "live").has_passed_step(6) == StepState.UNAVAILABLE


def test_prev_steps(run: Path) -> None:
    t = create_trial(run).tensor("fc.weight")
    assert t.prev_steps(6, 2) == [4, 6]  # up to and including the step
    assert t.prev_steps(7, 2) == [4, 6]
    assert t.prev_steps(2, 5) == [0, 2]  # fewer than n saved before it
    assert t.prev_steps(5) == [0, 2, 4]  # n=None: all of them
    assert t.prev_steps(4, 1, mode=modes.TRAIN) == [4]


def test_no_refresh_and_refresh(tmp_path: Path) -> None:
    w = _write(tmp_path / "nr", [0, 1], close=False)
    try:
        t, other = create_trial(tmp_path / "nr", refresh_interval=0), create_trial(tmp_path / "nr")
        loss = t.tensor("CrossEntropyLoss_output_0")
        assert loss.steps() == [0, 1]
        with no_refresh([t, other]) as trials:
            assert trials == [t, other] and not t.dynamic_refresh
            w.add(2, "TRAIN", 2, _records(2))
            w.set_progress(3)
            w.flush()
            assert loss.steps() == [0, 1] and t.steps() == [0, 1]  # stable inside the block
            with pytest.raises(StepNotYetAvailable):
                loss.value(2)
            with refresh(t):
                assert loss.steps() == [0, 1, 2]
            assert not t.dynamic_refresh  # restored on exit
        assert t.dynamic_refresh and other.dynamic_refresh
        assert loss.value(2) == pytest.approx(8.0)
        with no_refresh(t):  # one trial, not a list
            assert not t.dynamic_refresh and other.dynamic_refresh
    finally:
        w.close()


def test_collections_and_tensor_names(run: Path) -> None:
    t = create_trial(run)
    assert t.collection("weights").include_regex == ["weight$"]
    new = t.collection("not_saved")  # smdebug makes an empty collection for a new name
    assert new.name == "not_saved" and not new.tensor_names and "not_saved" in t.collections()
    assert t.tensor_names(collection="not_saved") == []
    assert t.tensor_names(collection=t.collection("gradients")) == ["gradient/fc.weight"]
    assert t.tensor_names(regex=["weight$", "Loss"]) == ["CrossEntropyLoss_output_0", "fc.weight", "gradient/fc.weight"]
    assert t.tensor_names(step=4, mode=modes.TRAIN, regex="grad") == ["gradient/fc.weight"]
    with pytest.raises(ValueError, match="only one of regex and collection"):
        t.tensor_names(regex="weight", collection="weights")
    with pytest.raises(TypeError, match="expected a collection name or a Collection, got int"):
        t.tensor_names(collection=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        t.tensor_names("weight")  # type: ignore[misc]  # keywords only, as in smdebug


def test_tensorflow_style_output_names(run: Path) -> None:
    t = create_trial(run)
    loss = t.tensor("CrossEntropyLoss:0")  # the name the SageMaker Debugger notebooks use
    assert loss.name == "CrossEntropyLoss_output_0" and t.has_tensor("CrossEntropyLoss:0")
    assert loss.value(4) == pytest.approx(6.0)
    assert not t.has_tensor("CrossEntropyLoss:1")
    with pytest.raises(TensorUnavailable, match="'CrossEntropyLoss:1'"):
        t.tensor("CrossEntropyLoss:1")


def test_s3_trial(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/outputs/resnet"
    w = _write(url, list(range(6)), close=False)  # live, flush_secs=60
    try:
        tr = create_trial(path=url, name="resnet_training_run")
        assert isinstance(tr, S3Trial) and tr.bucket_name == s3_bucket and tr.prefix_name == "outputs/resnet/"
        w.add(6, "TRAIN", 6, _records(6))
        w.set_progress(7)
        assert tr.steps()[-1] == 6  # the writer is in this process: published when the reader asks
        ranged = S3Trial("r", s3_bucket, "outputs/resnet", range_steps=(2, 4))
        assert ranged.steps() == [2, 3] and ranged.tensor("fc.weight").value(3)[0, 0] == 3
    finally:
        w.close()
