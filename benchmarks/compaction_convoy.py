"""Plain PyTorch training beside a thread that merges segments back to back (the convoy probe).

    python benchmarks/compaction_convoy.py [--pairs 5] [--block-secs 2]

A one-thread MLP trains in blocks of ``--block-secs``; every other block a thread merges
pre-written trials of 16 one-second segments (as a background compaction round does, with its
GIL yields) without pause. Prints the median slowdown of the training blocks with the merging
thread against those without, beside the share of a core that thread used. A slowdown far
beyond what that CPU share explains is the GIL convoy: PyTorch releases and retakes the GIL
around its operators, and each retake waits while the other thread holds it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5, help="pairs of training blocks (without, with merging)")
    p.add_argument("--block-secs", type=float, default=2.0)
    p.add_argument("--trials", type=int, default=150, help="16-segment trials written up front to merge")
    args = p.parse_args(argv)
    import torch
    from _long_run import write_long_trial
    from _overhead_pytorch import _Shared

    from smdbg.store import open_fs
    from smdbg.store._background import _yield_gil
    from smdbg.store.compact import Compactor, plan_tiered

    torch.set_num_threads(1)
    shared = _Shared("mlp", "cpu")
    with tempfile.TemporaryDirectory(prefix="smdbg-convoy-") as base:
        pool = []
        for _ in range(args.trials):
            pool.append(tempfile.mkdtemp(dir=base))
            write_long_trial(pool[-1], 16, 12, steps_per_segment=190)
        stop = threading.Event()
        used: list[float] = []

        def merger() -> None:
            c0 = time.thread_time()
            while not stop.is_set() and pool:
                comp = Compactor(open_fs(pool.pop()), "worker_0", fsync=False)
                comp.pause = _yield_gil
                comp.run(lambda s: plan_tiered(s, 16))
            used.append(time.thread_time() - c0)

        steps = int(args.block_secs / shared.run(50))
        ratios, shares = [], []
        for _ in range(args.pairs):
            alone = shared.run(steps)
            stop.clear()
            thread = threading.Thread(target=merger)
            w0 = time.perf_counter()
            thread.start()
            beside = shared.run(steps)
            stop.set()
            thread.join()
            ratios.append(beside / alone)
            shares.append(used[-1] / (time.perf_counter() - w0))
        left = len(pool)
    print("| pairs | training slowdown, median (min-max) | merging thread's share of a core | trials left |")
    print("|---:|---:|---:|---:|")
    print(f"| {args.pairs} | {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{statistics.median(shares):.2f} | {left} |")  # fmt: skip
    if not left:
        print("the pool ran out: pass more --trials")


if __name__ == "__main__":
    main()
