"""Trial-store benchmark: write throughput against the disk, read paths, open time, live lag.

    python benchmarks/store_bench.py [--dir DIR] [--raw-mb 512] [--steps 10000] [--tensors 100]
    python benchmarks/store_bench.py --long 1 [--long 24] [--only-long]

Prints one table. ``--long HOURS`` adds the long-run case (``_long_run.py``): a trial as an
HOURS-long run at the default 1 s flush leaves it (3,600 segments an hour, 200 tensors x 3
reductions a step, a gradient every 60 steps), measured as written and after compaction (a day-long trial is compacted
while it is written, as the writer's background compactor does, and measured after). The disk's sequential write speed is measured in the same run (the same
directory, fsync at the end, like the store's segments). The long-run case also counts what
opening and listing, and the first query of one tensor, read (segment files opened, bytes read,
Parquet row groups decoded: ``smdbg.testing.CountingFS``), with the writer's manifest and after
compaction.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from smdbg.store import BackgroundWriter, Record
from smdbg.trials import create_trial


def disk_write_mb_s(directory: str, total_mb: int) -> float:
    chunk = os.urandom(8 << 20)
    path = os.path.join(directory, "disk_probe.bin")
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(max(total_mb // 8, 1)):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    dt = time.perf_counter() - t0
    os.unlink(path)
    return (total_mb // 8) * 8 / dt


def write_raw(path: str, total_mb: int) -> tuple[float, int]:
    """Raw float32 tensors of 128x512 (256 KiB) through the background writer; returns MB/s."""
    rng = np.random.default_rng(0)
    tensors = [rng.standard_normal((128, 512)).astype(np.float32) for _ in range(4)]
    steps = max(total_mb * 4 // len(tensors), 1)  # 4 tensors of 0.25 MB per step
    t0 = time.perf_counter()
    with BackgroundWriter(path, "worker_0") as w:
        for step in range(steps):
            w.set_progress(step, "TRAIN", step)
            w.add(step, "TRAIN", step, [Record(f"layer{i}.weight", ("weights",), "raw", None, "float32", t.shape, t) for i, t in enumerate(tensors)])
        w.set_progress(steps, "TRAIN", steps)
    dt = time.perf_counter() - t0
    return steps * len(tensors) * tensors[0].nbytes / 1e6 / dt, steps


def write_reductions(path: str, steps: int, tensors: int) -> float:
    names = [f"layer{i}.weight" for i in range(tensors)]
    vals = np.random.default_rng(1).standard_normal((tensors, 3))
    t0 = time.perf_counter()
    with BackgroundWriter(path, "worker_0") as w:
        w.write_trial_metadata({"num_workers": 1})
        for step in range(steps):
            w.set_progress(step, "TRAIN", step)
            recs = []
            for i, n in enumerate(names):
                v = vals[i]
                recs.append(Record(n, ("weights",), "mean", float(v[0]), "float32", None, None))
                recs.append(Record(n, ("weights",), "abs_max", float(v[1]), "float32", None, None))
                recs.append(Record(n, ("weights",), "l2", float(v[2]), "float32", None, None))
            w.add(step, "TRAIN", step, recs)
        w.set_progress(steps, "TRAIN", steps)
    return steps * tensors * 3 / (time.perf_counter() - t0)


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def live_lag(path: str, trials: int = 5) -> float:
    w = BackgroundWriter(path, "worker_0")
    w.write_trial_metadata({"num_workers": 1})
    trial = create_trial(path, timeout=5, refresh_interval=0)
    lags = []
    for step in range(trials):
        w.set_progress(step, "TRAIN", step)
        w.add(step, "TRAIN", step, [Record("loss", ("losses",), "raw", 1.0, "float32", (), np.float32(1).tobytes())])
        w.set_progress(step + 1, "TRAIN", step + 1)
        t0 = time.perf_counter()
        while step not in trial.steps():
            time.sleep(0.005)
        lags.append(time.perf_counter() - t0)
        time.sleep(0.3)
    w.close()
    return statistics.median(lags)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir on the default disk)")
    ap.add_argument("--raw-mb", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--tensors", type=int, default=100)
    ap.add_argument("--long", type=int, action="append", default=[], metavar="HOURS",
                    help="add the long-run case for a run of HOURS hours (repeatable)")
    ap.add_argument("--only-long", action="store_true", help="run only the long-run cases")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="smdbg-bench-", dir=args.dir)
    rows: list[tuple[str, str, str]] = []
    try:
        for hours in args.long:
            rows += long_run(os.path.join(base, f"long{hours}"), hours)
        if not args.only_long:
            rows += short_cases(base, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>18}  note")
    print("-" * (width + 40))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")


def long_run(path: str, hours: int) -> list[tuple[str, str, str]]:
    from _long_run import first_query, measure_long_trial, size_mb, write_long_trial

    try:
        from smdbg.store.compact import compact_trial
    except ImportError:  # a version without compaction: measure as written only
        compact_trial = None  # type: ignore[assignment]
    segments = 3600 * hours
    rows: list[tuple[str, str, str]] = []
    if hours <= 1 or compact_trial is None:
        gen = write_long_trial(path, segments, 200, manifest=True)
        rows.append((f"{hours} h trial: write {segments:,} segments", f"{gen:,.0f} s", f"{size_mb(path):,.0f} MB"))
        manifest = os.path.join(path, "events", "worker_0", "manifest.json")
        rows += first_query(path, f"{hours} h as written + the writer's manifest")
        os.replace(manifest, manifest + ".aside")  # as written, no manifest: a run that crashed
        rows += measure_long_trial(path, f"{hours} h as written")
        os.replace(manifest + ".aside", manifest)
        if compact_trial is None:
            return rows
        t0 = time.perf_counter()
        compact_trial(path)
        rows.append((f"{hours} h trial: compact", f"{time.perf_counter() - t0:,.1f} s", f"{size_mb(path):,.0f} MB"))
        return rows + first_query(path, f"{hours} h compacted") + measure_long_trial(path, f"{hours} h compacted")
    t0 = time.perf_counter()
    for hour in range(hours):  # as the background compactor does while the run writes
        write_long_trial(path, 3600, 200, first_step=hour * 3600)
        compact_trial(path)
    rows.append((f"{hours} h trial: write {segments:,} segments, compacting as it goes",
                 f"{time.perf_counter() - t0:,.0f} s", f"{size_mb(path):,.0f} MB"))  # fmt: skip
    return rows + measure_long_trial(path, f"{hours} h compacted", quick=True) + first_query(path, f"{hours} h compacted")


def short_cases(base: str, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    disk = disk_write_mb_s(base, args.raw_mb)
    raw_rate, raw_steps = write_raw(os.path.join(base, "raw"), args.raw_mb)
    rows.append(("disk sequential write (fsync)", f"{disk:,.0f} MB/s", "baseline"))
    rows.append((f"raw tensor write ({args.raw_mb} MB, 128x512 f32)", f"{raw_rate:,.0f} MB/s", f"{raw_rate / disk:.0%} of disk (target >= 70%)"))
    red_path = os.path.join(base, "red")
    rate = write_reductions(red_path, args.steps, args.tensors)
    rows.append((f"scalar reduction records ({args.steps} steps x {args.tensors} tensors x 3)", f"{rate:,.0f} records/s", ""))

    t_open = timed(lambda: (lambda t: (t.tensor_names(), t.steps()))(create_trial(red_path, timeout=5)), repeat=3)
    rows.append((f"open + list a {args.steps}-step trial", f"{t_open * 1e3:,.0f} ms", "target <= 500 ms"))
    trial = create_trial(red_path, timeout=5)
    names = trial.tensor_names()
    trial.tensor(names[0]).history("mean")
    t_hist = timed(lambda: trial.tensor(names[7]).history("mean"), repeat=20)
    rows.append((f"one reduction's history ({args.steps} steps, warm)", f"{t_hist * 1e3:.2f} ms", "target <= 50 ms"))
    cold = timed(lambda: create_trial(red_path, timeout=5).tensor(names[3]).history("l2"), repeat=3)
    rows.append(("same, cold (open trial + read)", f"{cold * 1e3:,.0f} ms", ""))
    mid = args.steps // 2
    t_step = timed(lambda: [trial.tensor(n).reduction_value(mid, "mean") for n in names], repeat=5)
    rows.append((f"all {len(names)} tensors' mean at one step", f"{t_step * 1e3:.1f} ms", ""))

    raw_trial = create_trial(os.path.join(base, "raw"), timeout=5)
    n_read = min(1000, raw_steps)
    tensor = raw_trial.tensor("layer0.weight")
    t_raw = timed(lambda: [tensor.value(s) for s in range(n_read)], repeat=3)
    rows.append((f"one raw 128x512 tensor over {n_read} steps (warm cache)", f"{t_raw * 1e3:,.0f} ms", ""))
    t_raw_cold = timed(lambda: (lambda t: [t.tensor("layer1.weight").value(s) for s in range(n_read)])(create_trial(os.path.join(base, "raw"), timeout=5)), repeat=2)
    rows.append(("same, cold (open trial + read)", f"{t_raw_cold * 1e3:,.0f} ms", ""))
    t_all = timed(lambda: [raw_trial.tensor(n).value(mid % raw_steps) for n in raw_trial.tensor_names()], repeat=5)
    rows.append(("all raw tensors at one step", f"{t_all * 1e3:.2f} ms", ""))
    lag = live_lag(os.path.join(base, "live"))
    rows.append(("save -> visible to a reader (default flush 1 s)", f"{lag * 1e3:,.0f} ms", "target <= 2000 ms"))
    return rows


if __name__ == "__main__":
    main()
