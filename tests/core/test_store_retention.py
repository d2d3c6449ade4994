"""Retention and the storage budget beyond the contract suite (which runs retention on every
backend: smdbg.testing._retention_contract): large segments, appended streams, bad options, the
CLI and the PyTorch hook, on local disk."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from smdbg.exceptions import RawTensorDropped
from smdbg.store import BackgroundWriter
from smdbg.store.compact import compact_trial
from smdbg.store.format import EVENTS_DIR, SegmentName
from smdbg.testing._retention_contract import check_retained as _check_retained
from smdbg.testing._retention_contract import step_records
from smdbg.testing._retention_contract import write_run as _write_run
from smdbg.trials import create_trial


def write_run(path: Path, steps: int, per_flush: int = 5, **kw: object) -> None:
    _write_run(str(path), steps, per_flush, **kw)


def check_retained(trial_dir: Path, steps: int, keep: int) -> None:
    _check_retained(str(trial_dir), steps, keep)


def segments(path: Path) -> list[SegmentName]:
    names = (SegmentName.parse(p.name) for p in (path / EVENTS_DIR / "worker_0").iterdir())
    return sorted(s for s in names if s is not None)


def test_large_segments_are_rewritten_not_merged(tmp_path: Path) -> None:
    trial_dir = tmp_path / "big"
    write_run(trial_dir, 40)
    # every segment counts as large: nothing is merged, old ones are rewritten one by one
    (result,) = compact_trial(trial_dir, keep_raw_steps=12, small_bytes=1)
    assert result.merged == 0 and result.thinned == 6  # segments of steps 0-4 .. 25-29
    assert len(segments(trial_dir)) == 8
    check_retained(trial_dir, 40, 12)


def test_size_budget_counts_what_an_appended_stream_held(tmp_path: Path) -> None:
    write_run(tmp_path / "a", 20)
    held = sum(
        (tmp_path / "a" / EVENTS_DIR / "worker_0" / str(s)).stat().st_size for s in segments(tmp_path / "a")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with BackgroundWriter(
            tmp_path / "a", compact_secs=None, append=True, size_budget_bytes=held
        ) as writer:
            writer.add(20, "TRAIN", 20, step_records(20))
    assert len([w for w in caught if "size_budget_bytes" in str(w.message)]) == 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"keep_raw_steps": -1}, "keep_raw_steps=-1: expected None or an integer >= 0"),
        ({"keep_raw_steps": 2.5}, "keep_raw_steps=2.5"),
        ({"size_budget_bytes": 0}, "size_budget_bytes=0: expected None or a positive number of bytes"),
        ({"size_budget_bytes": -5}, "size_budget_bytes=-5"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BackgroundWriter(tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


def test_compact_trial_refuses_negative_keep_raw_steps(tmp_path: Path) -> None:
    write_run(tmp_path / "t", 10)
    names = segments(tmp_path / "t")
    with pytest.raises(ValueError, match="keep_raw_steps=-3"):
        compact_trial(tmp_path / "t", keep_raw_steps=-3)
    assert segments(tmp_path / "t") == names


def smdbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smdbg.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_compact_keep_raw_steps(tmp_path: Path) -> None:
    trial_dir = tmp_path / "t"
    write_run(trial_dir, 30)
    bad = smdbg("trial", "compact", str(trial_dir), "--keep-raw-steps", "-2")
    assert bad.returncode == 2 and "-2: expected a whole number >= 0" in bad.stderr
    assert len(bad.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in bad.stderr
    done = smdbg("trial", "compact", str(trial_dir), "--keep-raw-steps", "5")
    assert done.returncode == 0, done.stderr
    assert "retention: 24 raw tensors dropped" in done.stdout
    check_retained(trial_dir, 30, 5)


def test_pytorch_hook_passes_retention_and_budget_to_its_writer(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import smdbg.pytorch as smd

    with pytest.raises(ValueError, match="keep_raw_steps=-1"):
        smd.Hook(tmp_path / "bad", keep_raw_steps=-1)
    net = torch.nn.Linear(8, 4)
    cfg = smd.ReductionConfig(reductions=["mean"], save_raw_tensor=True)
    hook = smd.Hook(tmp_path / "h", include_collections=["weights"], reduction_config=cfg,
                    save_config=smd.SaveConfig(save_interval=1), keep_raw_steps=2, size_budget_bytes=1000)  # fmt: skip
    hook.register_module(net)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(8):
            net(torch.ones(3, 8) * i).sum().backward()
        hook.close()
    assert len([w for w in caught if "size_budget_bytes" in str(w.message)]) == 1
    compact_trial(tmp_path / "h", keep_raw_steps=hook.options.keep_raw_steps)
    w = create_trial(tmp_path / "h", timeout=5).tensor("Linear_weight")
    steps = w.steps()
    assert len(w.history("mean")[0]) == len(steps) > 3
    np.testing.assert_allclose(w.value(steps[-1]), net.weight.detach().numpy())
    with pytest.raises(RawTensorDropped):
        w.value(steps[0])
