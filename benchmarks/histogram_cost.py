"""What histograms cost against reductions: in a saved step's capture, and in training.

    python benchmarks/histogram_cost.py [--models mlp,cnn] [--repeats 100] [--bins 64]
                                        [--train-rounds 40] [--steps 50] [--threads 1]

1. Capture: for each model of ``hook_overhead.py``, the capture of all its weights and
   gradients (random gradients of the weights' shapes) as the hook runs it on a saved step
   (reduce, then hand the values over): with the reductions row's keys (mean, abs_max, l2),
   with ``histogram=bins`` alone, and with both. Best of ``--repeats`` (noise only adds).
2. Training (the target: histograms of all weights and gradients every 10 steps cost at most
   twice the reductions row): one model trained bare, with a hook saving weights, biases and
   gradients' reductions (mean, abs_max, l2) every 10 steps, and with one saving their
   histograms every 10 steps, in rotating order in one process (``--train-rounds`` rounds of
   ``--steps`` steps per block; each hooked block has a fresh hook, 20 untimed warm-up steps,
   and ``--steps / 10`` saved steps). Each round gives each hooked block's overhead over the
   bare block of the same round (the machine's drift between rounds cancels) and their ratio,
   histogram overhead / reductions overhead: the target quantity. The table reports the
   median of the per-round ratios with quartiles, in the process's CPU time (all its threads,
   the hook's writer included: the figure) and in wall time, and the 1-minute load average
   at the start and end of each model's rounds (the machine is shared). Beside it, the pooled
   ratio (mean histogram overhead / mean reductions overhead) with a 95% bootstrap interval
   over the rounds: a per-round ratio divides by a small noisy overhead, so its quartiles are
   wide even where the pooled ratio is resolved.
3. The same blocks step by step: what one saved step costs the training thread (its CPU time
   and the next step's over the block's unsaved steps; the writer thread's work, which falls
   on random steps, is left out), per block, and the histogram / reductions ratio per round.
   Where a block's overhead is ~1% and its noise ±5%, this one still resolves.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

KEYS = ("mean", "abs_max", "l2")


def capture_table(args: argparse.Namespace) -> None:
    import torch
    from _overhead_pytorch import build_model

    from smdbg.hooks._plan import TensorPlan
    from smdbg.hooks.torch._capture import StepCapture

    plans = {
        "reductions (mean, abs_max, l2)": TensorPlan(("weights",), KEYS, False, False),
        f"histogram({args.bins})": TensorPlan(("weights",), (), False, False, (args.bins, "minmax")),
        "both": TensorPlan(("weights",), KEYS, False, False, (args.bins, "minmax")),
    }
    print(f"capture, best of {args.repeats} captures of all weights and gradients (interleaved)\n")
    print("| model | tensors | values | what | us per saved step | x reductions |")
    print("|---|---:|---:|---|---:|---:|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model, _ = build_model(name, "cpu")
        ts = [q.detach() for q in model.parameters()]
        ts += [torch.randn_like(t) for t in ts]
        best = dict.fromkeys(plans, float("inf"))
        for _ in range(args.repeats):
            for what, plan in plans.items():
                cap = StepCapture()
                t0 = time.perf_counter()
                cap.add([(f"t{i}", plan, t) for i, t in enumerate(ts)])
                list(cap.finish((0, "TRAIN", 0)).items())
                best[what] = min(best[what], time.perf_counter() - t0)
        base = best["reductions (mean, abs_max, l2)"]
        values = sum(t.numel() for t in ts)
        for what, b in best.items():
            print(f"| {name} | {len(ts)} | {values:,} | {what} | {b * 1e6:.0f} | x{b / base:.1f} |")


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def _pooled(red: list[float], hist: list[float], draws: int = 2000) -> str:
    """Mean histogram overhead / mean reductions overhead over the rounds, with a 95% bootstrap
    interval (rounds resampled): steadier than a per-round ratio, whose denominator is a small
    noisy overhead."""
    rnd = random.Random(0)
    n = len(red)
    est = []
    for _ in range(draws):
        idx = [rnd.randrange(n) for _ in range(n)]
        r = sum(red[i] for i in idx)
        est.append(sum(hist[i] for i in idx) / r if r > 0 else float("inf"))
    est.sort()
    whole = sum(hist) / sum(red) if sum(red) > 0 else float("inf")
    return f"x{whole:.2f} ({est[int(0.025 * draws)]:.2f}..{est[int(0.975 * draws) - 1]:.2f})"


def _saved_step_cost(steps: list[float]) -> float:
    """The CPU time one saved step adds, from a block's per-step times whose steps 0, 10, 20
    ... are saved: per 10-step cycle, steps 0 and 1 (a saved step's hand-over may end in the
    next one) over twice the median of the block's steps 3-8 of a cycle; median over cycles."""
    quiet = statistics.median([t for i, t in enumerate(steps) if 3 <= i % 10 <= 8])
    return statistics.median(steps[i] + steps[i + 1] - 2 * quiet for i in range(0, len(steps) - 1, 10))


def training_table(args: argparse.Namespace) -> None:
    from _overhead_configs import CONFIGS, HISTOGRAM_CONFIGS
    from _overhead_pytorch import _Shared, cleanup

    red_cfg = CONFIGS["w+b+grads reductions every 10"]
    hist_cfg = {**HISTOGRAM_CONFIGS["w+b+grads histogram(64) every 10"], "histogram": args.bins}
    print(f"\ntraining, {args.train_rounds} rounds of {args.steps} steps per block: bare, reductions every 10 "
          "steps, histograms every 10 steps, in rotating order (ABC, BCA, CAB, ...). Per round: overhead = "
          "hooked block / bare block - 1; ratio = histogram overhead / reductions overhead. Median over the "
          "rounds (quartiles); the figure is the process-CPU-time ratio (the writer thread included; other "
          "jobs on the machine move it less than wall time), wall time beside it\n")  # fmt: skip
    print("| model | load (1 min) | bare ms/step | reductions overhead | histogram overhead | "
          "**ratio, CPU time** | ratio, wall time | pooled ratio, CPU time (95% bootstrap) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, dict[str, list[float]]]] = []
    for name in args.models.split(","):
        load0 = os.getloadavg()[0]
        shared = _Shared(name, "cpu")
        sides = {
            "bare": lambda sh=shared: sh.run(args.steps),
            "red": lambda sh=shared: sh.run_hooked(red_cfg, args.steps),
            "hist": lambda sh=shared: sh.run_hooked(hist_cfg, args.steps),
        }
        order = list(sides)
        shared.per_step = []
        saved: dict[str, list[float]] = {"red": [], "hist": []}  # per block: one saved step's CPU cost
        per: dict[str, dict[str, list[float]]] = {c: {"bare": [], "red": [], "hist": [], "ratio": []} for c in ("cpu", "wall")}
        for r in range(args.train_rounds):
            got = {}
            for side in order[r % 3 :] + order[: r % 3]:  # each side first in a third of the rounds
                gc.collect()  # untimed: a collection falls into no block by chance
                sides[side]()
                got[side] = dict(shared.last)
                if side in saved:
                    saved[side].append(_saved_step_cost(shared.per_step))
            for clock, d in per.items():
                b = got["bare"][clock]
                red, hist = got["red"][clock] / b - 1, got["hist"][clock] / b - 1
                d["bare"].append(b)
                d["red"].append(red)
                d["hist"].append(hist)
                d["ratio"].append(hist / red if red else float("inf"))

        def pct(xs: list[float]) -> str:
            q1, m, q3 = _quartiles(xs)
            return f"{m * 100:+.1f}% ({q1 * 100:+.1f}..{q3 * 100:+.1f})"

        def ratio(xs: list[float]) -> str:
            q1, m, q3 = _quartiles(xs)
            return f"x{m:.2f} ({q1:.2f}..{q3:.2f})"

        cpu, wall = per["cpu"], per["wall"]
        print(f"| {name} | {load0:.1f}-{os.getloadavg()[0]:.1f} | {statistics.median(cpu['bare']) * 1e3:.3f} | "
              f"{pct(cpu['red'])} | {pct(cpu['hist'])} | **{ratio(cpu['ratio'])}** | {ratio(wall['ratio'])} | "
              f"{_pooled(cpu['red'], cpu['hist'])} |")  # fmt: skip
        rows.append((name, saved))
    print("\nthe same blocks, per step: one saved step's CPU time over the block's unsaved steps "
          "(median over its 10-step cycles of steps 0 + 1 of the cycle minus twice the median of steps 3-8; "
          "the writer thread's work falls on random steps and is left out); median over the rounds (quartiles)\n")
    print("| model | reductions: saved step costs | histograms: saved step costs | histogram / reductions, "
          "per round | ratio of the medians |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name, saved in rows:
        red, hist = saved["red"], saved["hist"]
        (r1, rm, r3), (h1, hm, h3) = _quartiles(red), _quartiles(hist)
        q1, m, q3 = _quartiles([h / r if r > 0 else float("inf") for r, h in zip(red, hist)])
        print(f"| {name} | {rm * 1e6:.0f} us ({r1 * 1e6:.0f}..{r3 * 1e6:.0f}) | {hm * 1e6:.0f} us "
              f"({h1 * 1e6:.0f}..{h3 * 1e6:.0f}) | x{m:.2f} ({q1:.2f}..{q3:.2f}) | x{hm / rm:.2f} |")  # fmt: skip
    cleanup()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--repeats", type=int, default=100, help="captures per configuration (capture table)")
    p.add_argument("--bins", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-rounds", type=int, default=40, help="rounds of the training table (0: skip it)")
    p.add_argument("--steps", type=int, default=50, help="training steps per block (a multiple of 10)")
    args = p.parse_args(argv)
    import logging

    import torch

    torch.set_num_threads(args.threads)
    logging.getLogger("smdbg").setLevel(logging.ERROR)
    capture_table(args)
    if args.train_rounds:
        training_table(args)


if __name__ == "__main__":
    main()
