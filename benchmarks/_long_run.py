"""The long-run case of ``store_bench.py``: a trial as a long run at the default 1 s flush leaves it.

One segment per second of training, each holding one step of ``tensors`` x 3 reductions (mean,
abs_max, l2), and every ``sparse_every`` steps a gradient (``Net_layer0.grad``, 3 reductions) as a
collection saved less often would leave it. A one-hour run: 3,600 segments; a day: 86,400. The
segments are written straight through :class:`~smdbg.store.TrialWriter` (no fsync) so building
the trial takes minutes, not hours; with ``manifest=True`` the writer's manifest is saved at the
end, as ``BackgroundWriter.close()`` does.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from smdbg.store import Record, TrialWriter, open_fs
from smdbg.store._segment import ColumnBuffer, record_nbytes

__all__ = ["write_long_trial", "measure_long_trial", "first_query"]

REDUCTIONS = ("mean", "abs_max", "l2")
SPARSE = "Net_layer0.grad"


def write_long_trial(
    path: str, segments: int, tensors: int, steps_per_segment: int = 1, first_step: int = 0,
    sparse_every: int = 60, manifest: bool = False,
) -> float:  # fmt: skip
    """Write ``segments`` segments (``steps_per_segment`` steps each, from ``first_step`` on) and
    an end marker; returns the seconds taken."""
    t0 = time.perf_counter()
    fs = open_fs(path)
    sink = TrialWriter(fs, "worker_0", fsync=False)
    sink.write_trial_metadata({"framework": "bench", "num_workers": 1})
    names = [f"Net_layer{i}.weight" for i in range(tensors)]
    rng = np.random.default_rng(0)
    buf = ColumnBuffer()
    wall = time.time() - segments
    step = first_step
    for seg in range(segments):
        buf.clear()
        for _ in range(steps_per_segment):
            vals = rng.standard_normal(tensors * len(REDUCTIONS)).tolist()
            recs = [
                Record(n, ("weights",), red, vals[i * len(REDUCTIONS) + j], "float32", None, None)
                for i, n in enumerate(names)
                for j, red in enumerate(REDUCTIONS)
            ]
            if step % sparse_every == 0:
                recs += [Record(SPARSE, ("gradients",), red, 1.0, "float32", None, None) for red in REDUCTIONS]
            buf.extend(step, "TRAIN", step, wall + seg, recs, record_nbytes(recs))
            step += 1
        sink.write_segment(buf)
    sink.write_progress({"step": step, "mode_steps": {"TRAIN": step}})
    sink.write_end({"worker": "worker_0", "last_step": step, "time": time.time()})
    if manifest:
        sink.manifest.save()
    return time.perf_counter() - t0


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_long_trial(
    path: str, label: str, repeat: int = 3, quick: bool = False
) -> list[tuple[str, str, str]]:
    """Open + list, one reduction's history, ``to_pandas`` of one tensor and a built-in rule job
    (``quick``: open + list only)."""
    from smdbg.rules import RuleJob, builtin_rule
    from smdbg.trials import create_trial

    n_segs = sum(
        1 for d in open_fs(path).list_dir("events") for n in open_fs(path).list_dir(f"events/{d}")
        if n.endswith(".parquet")
    )  # fmt: skip
    label = f"{label} ({n_segs:,} segments)"
    rows: list[tuple[str, str, str]] = []

    def open_list() -> None:
        t = create_trial(path, timeout=5)
        t.tensor_names()
        t.steps()

    rows.append((f"{label}: open + list", f"{_median(open_list, repeat) * 1e3:,.0f} ms", "target <= 1000 ms"))
    if quick:
        return rows
    name = "Net_layer7.weight"
    cold = _median(lambda: create_trial(path, timeout=5).tensor(name).history("mean"), repeat)
    rows.append((f"{label}: open + one reduction's history", f"{cold * 1e3:,.0f} ms", ""))
    trial = create_trial(path, timeout=5)
    trial.tensor(name).history("mean")
    warm = _median(lambda: trial.tensor("Net_layer9.weight").history("l2"), 20)
    rows.append((f"{label}: one reduction's history (open trial)", f"{warm * 1e3:.2f} ms", "target <= 50 ms"))
    pat = f"^{name}$"
    t_pd = _median(lambda: trial.to_pandas(tensor_regex=pat), repeat)
    rows.append((f"{label}: to_pandas of one tensor (open trial)", f"{t_pd * 1e3:,.0f} ms", "target <= 200 ms"))
    t_pd_cold = _median(lambda: create_trial(path, timeout=5).to_pandas(tensor_regex=pat), repeat)
    rows.append((f"{label}: open + to_pandas of one tensor", f"{t_pd_cold * 1e3:,.0f} ms", ""))

    def rule_job() -> None:
        t = create_trial(path, timeout=5)
        RuleJob(builtin_rule("exploding_tensor", t, collection_names=["weights"]), name="bench_exploding").run()

    t_rule = _median(rule_job, 1)
    rows.append((f"{label}: exploding_tensor rule job (open + run)", f"{t_rule:,.2f} s", "target <= 5 s"))
    return rows


def size_mb(path: str) -> float:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 1e6


def first_query(path: str, label: str, tensors: tuple[str, ...] = ("Net_layer7.weight", SPARSE)) -> list[tuple[str, str, str]]:
    """Open and list a trial, then (each afresh) ask one tensor's history: segment files opened,
    bytes read from them, row groups decoded and time (the first, cold query)."""
    from smdbg.store import TrialReader
    from smdbg.testing._counting import CountingFS

    counting = CountingFS(open_fs(path))
    t0 = time.perf_counter()
    reader = TrialReader(counting)
    reader.refresh()
    listed = len(reader.tensors.names), len(reader.unique_steps(None))
    rows = [(
        f"{label}: open + list ({listed[0]} tensors, {listed[1]:,} steps)",
        f"{(time.perf_counter() - t0) * 1e3:,.0f} ms",
        f"{counting.files:,} segment reads, {counting.bytes / 1e6:,.2f} MB read",
    )]  # fmt: skip
    for name in tensors:
        counting = CountingFS(open_fs(path))
        t0 = time.perf_counter()
        reader = TrialReader(counting)
        reader.refresh()
        n = len(reader.tensor_cols(name)["step"])
        dt = time.perf_counter() - t0
        rows.append((
            f"{label}: open + first query of {name} ({n:,} values)",
            f"{dt * 1e3:,.0f} ms",
            f"{counting.files:,} segment reads, {counting.bytes / 1e6:,.2f} MB read, "
            f"{reader.stats.row_groups:,} row groups",
        ))  # fmt: skip
    return rows
