"""What histograms cost against reductions: in a saved step's capture, and in training.

    python benchmarks/histogram_cost.py [--models mlp,cnn] [--repeats 100] [--bins 64]
                                        [--train-rounds 40] [--steps 50] [--threads 1]
                                        [--hist-sides inline:numba,inline:numpy]

The CPU counting has two paths (``SMDBG_HISTOGRAM_KERNEL``): ``numba``, one compiled loop, and
``numpy``, numpy and torch passes; both give the same counts. numba is loaded before anything is
timed.

1. Capture: for each model of ``hook_overhead.py``, the capture of all its weights and
   gradients (random gradients of the weights' shapes) as the hook runs it on a saved step
   (reduce, then hand the values over): with the reductions row's keys (mean, abs_max, l2),
   with ``histogram=bins`` alone (each counting path; and on the worker thread, where the
   figure is the training thread's part), and with both. Best of ``--repeats`` (noise only adds).
2. Training (the target: histograms of all weights and gradients every 10 steps cost at most
   twice the reductions row): one model trained bare, with a hook saving weights, biases and
   gradients' reductions (mean, abs_max, l2) every 10 steps, and with hooks saving their
   histograms every 10 steps, one block per ``--hist-sides`` entry (``inline`` or ``worker``:
   ``SMDBG_HISTOGRAM_WORKER=0``/``1``; ``numba`` or ``numpy``: the counting path), in rotating
   order in one process (``--train-rounds`` rounds of ``--steps`` steps per block; each hooked
   block has a fresh hook, 20 untimed warm-up steps, and ``--steps / 10`` saved steps). Each
   round gives each hooked block's overhead over the bare block of the same round (the
   machine's drift between rounds cancels) and the ratio histogram overhead / reductions
   overhead: the target quantity. The table reports the median of the per-round ratios with
   quartiles and the pooled ratio (mean histogram overhead / mean reductions overhead, 95%
   bootstrap interval over the rounds: a per-round ratio divides by a small noisy overhead),
   in the process's CPU time (all its threads: the worker moves the counting to another
   thread, it does not remove it) and in wall time, and the 1-minute load average at the start
   and end of each model's rounds.
3. The same blocks step by step: what one saved step costs (steps 0-2 of each 10-step cycle
   over three quiet steps; the hand-over of worker histograms ends in one of the two steps
   after the saved one) in the training thread's CPU time (the writer's and the worker's
   threads are left out), in wall time and in process CPU time, per block, and the histogram /
   reductions ratio per round.
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

    hist = TensorPlan(("weights",), (), False, False, (args.bins, "minmax"))
    both = TensorPlan(("weights",), KEYS, False, False, (args.bins, "minmax"))
    plans = {  # what: (plan, SMDBG_HISTOGRAM_WORKER, SMDBG_HISTOGRAM_KERNEL)
        "reductions (mean, abs_max, l2)": (TensorPlan(("weights",), KEYS, False, False), "0", "numpy"),
        f"histogram({args.bins}), inline, numba": (hist, "0", "numba"),
        f"histogram({args.bins}), inline, numpy": (hist, "0", "numpy"),
        f"histogram({args.bins}), worker, numba: training thread's part": (hist, "1", "numba"),
        "both, inline, numba": (both, "0", "numba"),
        "both, inline, numpy": (both, "0", "numpy"),
    }
    print(f"capture, best of {args.repeats} captures of all weights and gradients (interleaved); with the "
          "worker, the capture's copies and hand-over (its counting, waited for untimed, is not in the figure)\n")
    print("| model | tensors | values | what | us per saved step | x reductions |")
    print("|---|---:|---:|---|---:|---:|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model, _ = build_model(name, "cpu")
        ts = [q.detach() for q in model.parameters()]
        ts += [torch.randn_like(t) for t in ts]
        best = dict.fromkeys(plans, float("inf"))
        caps = {}
        for what, (_, worker, _) in plans.items():
            os.environ["SMDBG_HISTOGRAM_WORKER"] = worker  # read when a capture is made
            caps[what] = StepCapture()  # one per configuration, as a hook has (its pooled buffers)
        for _ in range(args.repeats):
            for what, (plan, _, kernel) in plans.items():
                os.environ["SMDBG_HISTOGRAM_KERNEL"] = kernel  # read at each count
                cap = caps[what]
                t0 = time.perf_counter()
                cap.add([(f"t{i}", plan, t) for i, t in enumerate(ts)])
                pending = cap.finish((0, "TRAIN", 0))
                if pending.in_flight:  # the worker's counting: not the training thread's time
                    best[what] = min(best[what], time.perf_counter() - t0)
                    pending.wait()
                    list(pending.items())
                else:
                    list(pending.items())
                    best[what] = min(best[what], time.perf_counter() - t0)
        for cap in caps.values():
            cap.close()
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
    """The time one saved step adds, from a block's per-step times whose steps 0, 10, 20 ... are
    saved: per 10-step cycle, steps 0, 1 and 2 (a saved step's hand-over may end in one of the
    next two: its histograms counted on the worker are drained when ready) over three times the
    median of the block's steps 3-8 of a cycle; median over cycles."""
    quiet = statistics.median([t for i, t in enumerate(steps) if 3 <= i % 10 <= 8])
    return statistics.median(sum(steps[i : i + 3]) - 3 * quiet for i in range(0, len(steps) - 2, 10))


# histogram blocks: (SMDBG_HISTOGRAM_WORKER, SMDBG_HISTOGRAM_KERNEL) and their label
HIST_SIDES = {
    "inline:numba": ("0", "numba", "histograms, inline, numba"),
    "inline:numpy": ("0", "numpy", "histograms, inline, numpy"),
    "worker:numba": ("1", "numba", "histograms, worker, numba"),
    "worker:numpy": ("1", "numpy", "histograms, worker, numpy"),
}
CLOCKS = {"thread": "training thread CPU", "wall": "wall", "cpu": "process CPU"}


def _run_blocks(args: argparse.Namespace, name: str) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]]]:
    """``--train-rounds`` rounds of the blocks of one model in rotating order: per clock
    and side, each round's overhead over the round's bare block (``blocks``), and per clock and
    side, each block's saved-step cost (``saved``)."""
    from _overhead_configs import CONFIGS, HISTOGRAM_CONFIGS
    from _overhead_pytorch import _Shared

    red_cfg = CONFIGS["w+b+grads reductions every 10"]
    hist_cfg = {**HISTOGRAM_CONFIGS["w+b+grads histogram(64) every 10"], "histogram": args.bins}
    shared = _Shared(name, "cpu")

    def hist(side: str) -> None:
        worker, kernel, _ = HIST_SIDES[side]
        os.environ["SMDBG_HISTOGRAM_WORKER"] = worker  # read by each new hook
        os.environ["SMDBG_HISTOGRAM_KERNEL"] = kernel  # read at each count
        shared.run_hooked(hist_cfg, args.steps)

    sides = {"bare": lambda: shared.run(args.steps), "red": lambda: shared.run_hooked(red_cfg, args.steps)}
    sides.update({side: (lambda side=side: hist(side)) for side in args.hist_sides.split(",")})
    order = list(sides)
    shared.per_step = {c: [] for c in CLOCKS}
    saved = {c: {s: [] for s in order[1:]} for c in CLOCKS}
    blocks = {c: {s: [] for s in order} for c in ("cpu", "wall")}
    for r in range(args.train_rounds):
        got = {}
        k = r % len(order)
        for side in order[k:] + order[:k]:  # each side first in as many rounds as the others
            gc.collect()  # untimed: a collection falls into no block by chance
            sides[side]()
            got[side] = dict(shared.last)
            if side != "bare":
                for c in CLOCKS:
                    saved[c][side].append(_saved_step_cost(shared.per_step[c]))
        for clock, d in blocks.items():
            b = got["bare"][clock]
            d["bare"].append(b)
            for side in order[1:]:
                d[side].append(got[side][clock] / b - 1)
    return blocks, saved


def training_table(args: argparse.Namespace) -> None:
    from _overhead_pytorch import cleanup

    print(f"\ntraining, {args.train_rounds} rounds of {args.steps} steps per block: bare, reductions every 10 "
          f"steps, histograms every 10 steps ({args.hist_sides}), "
          "in rotating order. Per round: overhead = hooked block / bare block - 1; ratio = histogram overhead / "
          "reductions overhead; median over the rounds (quartiles), and the pooled ratio (mean histogram overhead "
          "/ mean reductions overhead, 95% bootstrap over the rounds); process CPU time (all threads) and wall time\n")  # fmt: skip
    print("| model | load (1 min) | histograms | bare ms/step | reductions overhead (CPU) | histogram overhead (CPU) | "
          "ratio, CPU | pooled, CPU | ratio, wall | pooled, wall |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in args.models.split(","):
        load0 = os.getloadavg()[0]
        blocks, saved = _run_blocks(args, name)
        load = f"{load0:.1f}-{os.getloadavg()[0]:.1f}"
        cpu, wall = blocks["cpu"], blocks["wall"]
        for side in args.hist_sides.split(","):
            label = HIST_SIDES[side][2]
            cells = [f"{statistics.median(cpu['bare']) * 1e3:.3f}", _pct(cpu["red"]), _pct(cpu[side])]
            for d in (cpu, wall):
                cells += [_ratio([h / r if r else float("inf") for r, h in zip(d["red"], d[side])]), _pooled(d["red"], d[side])]
            print(f"| {name} | {load} | {label} | " + " | ".join(cells) + " |")
        rows.append((name, load, saved))
    print("\nthe same blocks, per step: one saved step's cost over the block's unsaved steps (median over its "
          "10-step cycles of steps 0 + 1 + 2 of the cycle minus three times the median of steps 3-8; the writer "
          "thread's work falls on random steps and is left out of the training-thread figure); median over the "
          "rounds (quartiles); ratio: histograms / reductions per round, median (quartiles)\n")
    hist_sides = args.hist_sides.split(",")
    print("| model | load | clock | reductions: saved step | " + " | ".join(f"{HIST_SIDES[s][2]} | ratio" for s in hist_sides) + " |")
    print("|---|---|---|---:|" + "---:|---:|" * len(hist_sides))
    for name, load, saved in rows:
        for clock, label in CLOCKS.items():
            d = saved[clock]
            cells = [_us(d["red"])]
            for side in hist_sides:
                cells += [_us(d[side]), _ratio([h / r if r > 0 else float("inf") for r, h in zip(d["red"], d[side])])]
            print(f"| {name} | {load} | {label} | " + " | ".join(cells) + " |")
    cleanup()


def _pct(xs: list[float]) -> str:
    q1, m, q3 = _quartiles(xs)
    return f"{m * 100:+.1f}% ({q1 * 100:+.1f}..{q3 * 100:+.1f})"


def _ratio(xs: list[float]) -> str:
    q1, m, q3 = _quartiles(xs)
    return f"x{m:.2f} ({q1:.2f}..{q3:.2f})"


def _us(xs: list[float]) -> str:
    q1, m, q3 = _quartiles(xs)
    return f"{m * 1e6:.0f} us ({q1 * 1e6:.0f}..{q3 * 1e6:.0f})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--repeats", type=int, default=100, help="captures per configuration (capture table)")
    p.add_argument("--bins", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-rounds", type=int, default=40, help="rounds of the training table (0: skip it)")
    p.add_argument("--steps", type=int, default=50, help="training steps per block (a multiple of 10)")
    p.add_argument("--hist-sides", default="inline:numba,inline:numpy",
                   help=f"histogram blocks of the training table, comma-separated: {', '.join(HIST_SIDES)}")  # fmt: skip
    args = p.parse_args(argv)
    import logging

    import torch

    torch.set_num_threads(args.threads)
    logging.getLogger("smdbg").setLevel(logging.ERROR)
    for side in args.hist_sides.split(","):
        if side not in HIST_SIDES:
            p.error(f"--hist-sides: {side!r} is not one of {', '.join(HIST_SIDES)}")
    from smdbg.hooks.torch._bins_kernel import count_kernel

    os.environ["SMDBG_HISTOGRAM_KERNEL"] = "numba"
    count_kernel()  # numba loaded before anything is timed (it takes a process 1-2 s, once)
    capture_table(args)
    if args.train_rounds:
        training_table(args)


if __name__ == "__main__":
    main()
