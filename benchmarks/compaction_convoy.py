"""Plain PyTorch training beside a thread that merges segments back to back (the convoy probe).

    python benchmarks/compaction_convoy.py [--pairs 5] [--block-secs 2] [--process]

A one-thread MLP trains in blocks of ``--block-secs``; every other block a thread merges
pre-written trials of 16 one-second segments (as a background compaction round does, with its
GIL yields) without pause. Prints the median slowdown of the training blocks with the merging
thread against those without, beside the share of a core that thread used. A slowdown far
beyond what that CPU share explains is the GIL convoy: PyTorch releases and retakes the GIL
around its operators, and each retake waits while the other thread holds it.

``--process``: the merges are computed in the merge worker (a child process, as the writer's
background compactor does by default); the thread only plans, waits for the answer and
publishes. The share then counts the thread and the child together.
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
    p.add_argument("--process", action="store_true", help="compute the merges in a child process")
    args = p.parse_args(argv)
    import torch
    from _long_run import write_long_trial
    from _overhead_pytorch import _Shared

    from smdbg.store import open_fs
    from smdbg.store._background import _yield_gil
    from smdbg.store._merge_process import MergeProcess
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

        child: list[MergeProcess] = []

        def merger() -> None:
            c0, k0 = time.thread_time(), _cpu_secs(child[0].pid) if child else 0.0
            while not stop.is_set() and pool:
                fs = open_fs(pool.pop())
                comp = Compactor(fs, "worker_0", fsync=False)
                comp.pause = _yield_gil
                if args.process:
                    if not child:  # one long-lived child for all, as a writer has
                        child.append(MergeProcess(fs.address() or ("", {}), comp.compute))
                    child[0].url = fs.url()
                    comp.compute = child[0]
                comp.run(lambda s: plan_tiered(s, 16))
            used.append(time.thread_time() - c0 + (_cpu_secs(child[0].pid) - k0 if child else 0.0))

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
        for c in child:
            c.close()
    print(f"merges on {'a child process' if args.process else 'a thread of the training process'}")
    print("| pairs | training slowdown, median (min-max) | merging thread's share of a core | trials left |")
    print("|---:|---:|---:|---:|")
    print(f"| {args.pairs} | {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{statistics.median(shares):.2f} | {left} |")  # fmt: skip
    if not left:
        print("the pool ran out: pass more --trials")


def _cpu_secs(pid: int | None) -> float:
    """User + system CPU seconds of a live process (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
