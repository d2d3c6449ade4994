"""Retention (raw tensors of old steps dropped at compaction) and the storage budget, with real
writers, compaction and readers on local disk."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from smdbg.exceptions import RawTensorDropped, TensorUnavailableForStep
from smdbg.store import BackgroundWriter, Record
from smdbg.store.compact import compact_trial
from smdbg.store.format import EVENTS_DIR, SegmentName
from smdbg.trials import create_trial

W = np.arange(64, dtype=np.float32)


def step_records(step: int) -> list[Record]:
    w = W + step
    return [
        Record("loss", ("losses",), "raw", float(step), "float32", (1,), np.array([step], np.float32)),
        Record("w", ("weights",), "raw", None, "float32", w.shape, w),
        Record("w", ("weights",), "mean", float(w.mean()), "float32", None, None),
        Record("w", ("weights",), "abs_max", float(np.abs(w).max()), "float32", None, None),
    ]


def write_run(path: Path, steps: int, per_flush: int = 5, **kw: object) -> None:
    with BackgroundWriter(path, compact_secs=None, flush_secs=60, **kw) as writer:  # type: ignore[arg-type]
        for step in range(steps):
            writer.add(step, "TRAIN", step, step_records(step))
            writer.set_progress(step, "TRAIN", step)
            if step % per_flush == per_flush - 1:
                writer.flush()


def segments(path: Path) -> list[SegmentName]:
    names = (SegmentName.parse(p.name) for p in (path / EVENTS_DIR / "worker_0").iterdir())
    return sorted(s for s in names if s is not None)


def check_retained(trial_dir: Path, steps: int, keep: int) -> None:
    """Reductions and scalars of every step; raw of recent steps only, a clear error before."""
    trial = create_trial(trial_dir, timeout=5)
    assert trial.steps() == list(range(steps))
    w, loss = trial.tensor("w"), trial.tensor("loss")
    s, v = w.history("mean")
    np.testing.assert_allclose(v, [float((W + i).mean()) for i in range(steps)])
    assert s.tolist() == list(range(steps))
    np.testing.assert_array_equal(loss.history()[1], np.arange(steps, dtype=np.float64))
    np.testing.assert_array_equal(loss.value(0), [0.0])  # a scalar's raw row is kept
    cutoff = steps - 1 - keep
    for step in range(cutoff, steps):
        np.testing.assert_array_equal(w.value(step), W + step)
    with pytest.raises(RawTensorDropped, match=rf"keep_raw_steps={keep}\b.*reductions"):
        w.value(cutoff - 1)
    with pytest.raises(TensorUnavailableForStep):  # what rules already catch
        w.value(0)
    assert w.reduction_value(0, "max", abs=True) == float(W.max())


def test_compact_with_retention_keeps_reductions_and_scalars(tmp_path: Path) -> None:
    trial_dir = tmp_path / "t"
    write_run(trial_dir, 60)
    before = sum(s.seq_last - s.seq + 1 for s in segments(trial_dir))
    (result,) = compact_trial(trial_dir, keep_raw_steps=10)
    assert result.dropped_raw == 60 - 11 and result.merged == 1
    assert before == 12 and len(segments(trial_dir)) == 1
    check_retained(trial_dir, 60, 10)
    # Once more with a smaller window: the already-compacted segment is rewritten in place.
    (again,) = compact_trial(trial_dir, keep_raw_steps=3)
    assert (again.thinned, again.dropped_raw) == (1, 7)
    check_retained(trial_dir, 60, 3)
    (idle,) = compact_trial(trial_dir, keep_raw_steps=3)
    assert (idle.thinned, idle.dropped_raw) == (0, 0)


def test_large_segments_are_rewritten_not_merged(tmp_path: Path) -> None:
    trial_dir = tmp_path / "big"
    write_run(trial_dir, 40)
    # every segment counts as large: nothing is merged, old ones are rewritten one by one
    (result,) = compact_trial(trial_dir, keep_raw_steps=12, small_bytes=1)
    assert result.merged == 0 and result.thinned == 6  # segments of steps 0-4 .. 25-29
    assert len(segments(trial_dir)) == 8
    check_retained(trial_dir, 40, 12)


def test_background_compaction_with_retention_and_a_live_reader(tmp_path: Path) -> None:
    trial_dir = tmp_path / "live"
    steps, keep = 400, 50
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        trial = create_trial(trial_dir, timeout=30, refresh_interval=0)
        try:
            while not done.is_set():
                complete = trial.steps()
                s, v = trial.tensor("w").history("mean") if complete else (np.zeros(0), np.zeros(0))
                assert len(np.unique(s)) == len(s), "a step seen twice"
                assert set(complete) <= set(s.tolist()), "a complete step missing"
                np.testing.assert_allclose(v, (W.mean() + s).astype(np.float64), rtol=1e-6)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    with BackgroundWriter(trial_dir, compact_secs=0.05, flush_secs=60, keep_raw_steps=keep) as writer:
        writer.add(0, "TRAIN", 0, step_records(0))
        writer.flush()
        reader = threading.Thread(target=read)
        reader.start()
        for step in range(1, steps):
            writer.add(step, "TRAIN", step, step_records(step))
            writer.set_progress(step, "TRAIN", step)
            writer.flush()
        rounds = writer._compactor.rounds if writer._compactor else 0
    done.set()
    reader.join(60)
    assert not errors, errors[0]
    assert rounds > 0 and any(s.compacted for s in segments(trial_dir))
    trial = create_trial(trial_dir, timeout=5)
    w = trial.tensor("w")
    np.testing.assert_allclose(w.history("abs_max")[1], [float(W.max()) + i for i in range(steps)])
    with pytest.raises(RawTensorDropped):
        w.value(0)
    np.testing.assert_array_equal(w.value(steps - 1), W + steps - 1)


def test_size_budget_warns_once(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_run(tmp_path / "b", 30, size_budget_bytes=4000)
    budget = [w for w in caught if "size_budget_bytes" in str(w.message)]
    assert len(budget) == 1, [str(w.message) for w in caught]
    text = str(budget[0].message)
    assert "worker 'worker_0'" in text and str(tmp_path / "b") in text and "keep-raw-steps" in text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_run(tmp_path / "c", 30, size_budget_bytes=1 << 30)
    assert not [w for w in caught if "size_budget_bytes" in str(w.message)]
    assert create_trial(tmp_path / "b", timeout=5).steps() == list(range(30))  # writing went on


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


@pytest.mark.parametrize("small_bytes", [1, 16 << 20], ids=["rewritten", "merged"])
def test_reader_opened_before_retention_follows_the_rewrite(tmp_path: Path, small_bytes: int) -> None:
    trial_dir = tmp_path / "t"
    write_run(trial_dir, 40)
    trial = create_trial(trial_dir, timeout=5)
    w = trial.tensor("w")
    means = w.history("mean")[1].copy()
    compact_trial(trial_dir, keep_raw_steps=12, small_bytes=small_bytes)
    np.testing.assert_array_equal(w.history("mean")[1], means)
    np.testing.assert_array_equal(w.value(28), W + 28)  # its segment was replaced: found again
    with pytest.raises(RawTensorDropped, match="keep_raw_steps=12"):
        w.value(3)
    assert trial.steps() == list(range(40))
