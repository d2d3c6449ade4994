"""Rules benchmark: exploding_tensor and vanishing_gradient over a large trial, vectorised vs the
smdebug way (one reduction_value query per step per tensor), and live NaN-to-report latency.

    .venv/bin/python benchmarks/rules_bench.py [--steps 10000] [--tensors 200] [--baseline-steps 100]

The smdebug-way baseline runs on the first --baseline-steps steps and is extrapolated linearly
to the whole trial (marked "extrapolated" in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from smdbg.rules import RuleJob, builtin_rule
from smdbg.store import BackgroundWriter, Record
from smdbg.trials import create_trial


def write_big_trial(path: str, steps: int, tensors: int) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    w = BackgroundWriter(path, "worker_0", flush_secs=3600, segment_bytes=256 << 20, fsync=False)
    w.write_trial_metadata({"framework": "bench", "num_workers": 1})
    names = [f"gradient/Net_layer{i}.weight" for i in range(tensors)]
    colls = ("gradients",)
    for s in range(steps):
        vals = rng.uniform(1e-4, 1e-2, tensors)
        w.add(
            s,
            "TRAIN",
            s,
            [Record(n, colls, "abs_mean", float(v), "float32", None, None) for n, v in zip(names, vals)],
        )
    w.set_progress(steps)
    w.close()
    return time.perf_counter() - t0


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def smdebug_way(trial, reduction: str, is_abs: bool, steps: int, check) -> int:  # type: ignore[no-untyped-def]
    hits = 0
    names = trial.tensor_names(collection="gradients")
    for step in range(steps):
        for n in names:
            if check(trial.tensor(n).reduction_value(step, reduction, abs=is_abs)):
                hits += 1
    return hits


def live_latency(tmp: str) -> float:
    out = os.path.join(tmp, "live")
    script = os.path.join(os.path.dirname(__file__), "..", "tests", "rules", "live_train.py")
    train = subprocess.Popen(
        [sys.executable, script, out, "20", "400", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found_at: list[float] = []
    trial = create_trial(out, timeout=60)
    job = RuleJob(builtin_rule("exploding_tensor", trial), actions=["stop_training"], follow=True, poll_interval=0.1,
                  timeout=120, progress=lambda line: found_at.append(time.time()) if line.startswith("FINDING") and not found_at else None)  # fmt: skip
    job.run()
    stdout, _ = train.communicate(timeout=60)
    saved_at = json.loads(stdout.strip().splitlines()[-1])["saved_at"]
    return found_at[0] - float(saved_at["20"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--tensors", type=int, default=200)
    ap.add_argument("--baseline-steps", type=int, default=100)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big")
        gen = write_big_trial(path, a.steps, a.tensors)
        trial = create_trial(path)
        rows = a.steps * a.tensors
        print(
            f"trial: {a.steps} steps x {a.tensors} tensors (abs_mean saved) = {rows:,} values, written in {gen:.1f}s\n"
        )
        results = []
        for rule, check, red, is_abs in (
            ("exploding_tensor", lambda v: not np.isfinite(v), "mean", True),
            ("vanishing_gradient", lambda v: v < 1e-7, "mean", True),
        ):
            r = builtin_rule(rule, trial)
            t_vec, found = timed(r.evaluate)
            t_base, _ = timed(lambda: smdebug_way(trial, red, is_abs, a.baseline_steps, check))  # noqa: B023
            t_full = t_base * a.steps / a.baseline_steps
            results.append((rule, t_vec, len(found), t_full))
        print(
            f"| rule | smdbg vectorised (s) | smdebug way, 1 query/step/tensor (s, extrapolated from {a.baseline_steps} steps) | speed-up |"
        )
        print("|---|---|---|---|")
        for rule, t_vec, _n, t_full in results:
            print(f"| {rule} | {t_vec:.2f} | {t_full:.1f} | {t_full / t_vec:.0f}x |")
        lat = live_latency(tmp)
        print(f"\nlive: planted NaN reported {lat:.2f}s after the training process saved it "
              "(writer flush 0.2s, rule job poll 0.1s)")  # fmt: skip


if __name__ == "__main__":
    main()
