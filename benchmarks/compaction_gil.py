"""What a background compaction round takes from a Python thread next to it (the GIL probe).

    python benchmarks/compaction_gil.py --rounds 8
    python benchmarks/compaction_gil.py --rounds 8 --only before,yield
    PYTHONPATH=../old python benchmarks/compaction_gil.py --only before   # an older tree

Each round writes 16 segments as the PyTorch hook's writer leaves them at the 1 s flush (an MLP:
12 tensors x 3 reductions, ~190 steps a segment, ~7,000 rows; not timed), then merges them on a
thread as the writer's background compactor does, while the main thread spins in pure Python.
The two threads are pinned to different cores (when there are two), so they do not compete for a
core: what the spinning thread loses against its own rate just before is the time the compactor
held the GIL. Four settings, interleaved (ABCD DCBA): ``before`` (no GIL yields, normal
priority), ``yield`` (a short sleep between merge steps), ``nice`` (the thread at ``--nice``,
default 19) and both. Prints per setting the compactor thread's CPU time per round and the
spinning thread's loss, medians and quartiles over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SETTINGS = ("before", "yield", "nice", "yield+nice")


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[core]})


def _spin(seconds: float | None = None, until: threading.Thread | None = None) -> tuple[int, float]:
    """Pure-Python work: (blocks of 1,000 loop turns done, seconds taken)."""
    n, t0 = 0, time.perf_counter()
    while (until.is_alive() if until is not None else time.perf_counter() - t0 < (seconds or 0)):
        for _ in range(1000):
            pass
        n += 1
    return n, time.perf_counter() - t0


def one_round(base: str, setting: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(compactor CPU s, spinning thread's loss s, round wall s) for one round."""
    from _long_run import write_long_trial

    from smdbg.store import open_fs
    from smdbg.store.compact import Compactor, plan_tiered

    path = tempfile.mkdtemp(dir=base)
    write_long_trial(path, 16, args.tensors, steps_per_segment=args.steps_per_segment)
    comp = Compactor(open_fs(path), "worker_0")
    if "yield" in setting:
        from smdbg.store._background import _yield_gil

        comp.pause = _yield_gil
    out: dict[str, Any] = {}

    def work() -> None:
        _pin(1)
        if "nice" in setting:
            from smdbg.store._background import lower_thread_priority

            lower_thread_priority(args.nice)
        c0 = time.thread_time()
        out["merged"] = comp.run(lambda s: plan_tiered(s, 16))[2]
        out["cpu"] = time.thread_time() - c0

    n0, d0 = _spin(0.5)
    thread = threading.Thread(target=work)
    thread.start()
    n1, d1 = _spin(until=thread)
    thread.join()
    if out.get("merged") != 1:
        raise RuntimeError(f"expected one merge of 16 segments, got {out.get('merged')}")
    return out["cpu"], max(0.0, d1 - n1 / (n0 / d0)), d1


def _quartiles(xs: list[float]) -> str:
    q1, q2, q3 = statistics.quantiles(xs, n=4) if len(xs) > 1 else (xs[0],) * 3
    return f"{q2 * 1e3:7.1f} ({q1 * 1e3:.1f}-{q3 * 1e3:.1f})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=8, help="rounds per setting")
    p.add_argument("--tensors", type=int, default=12)
    p.add_argument("--steps-per-segment", type=int, default=190)
    p.add_argument("--only", default=None, help=f"comma-separated settings to run (of {', '.join(SETTINGS)})")
    p.add_argument("--nice", type=int, default=19, help="the compactor thread's nice value in the 'nice' settings")
    args = p.parse_args(argv)
    settings = args.only.split(",") if args.only else list(SETTINGS)
    if not set(settings) <= set(SETTINGS):
        p.error(f"--only {args.only!r}: expected settings among {', '.join(SETTINGS)}")
    _pin(0)
    res: dict[str, list[tuple[float, float, float]]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory(prefix="smdbg-gil-") as base:
        one_round(base, settings[0], args)  # warm-up: imports, first Parquet write
        for i in range(args.rounds):
            order = settings if i % 2 == 0 else settings[::-1]  # ABCD DCBA
            for s in order:
                res[s].append(one_round(base, s, args))
    print(f"\n{args.rounds} rounds per setting, 16 segments of {args.tensors} tensors x 3 reductions x "
          f"{args.steps_per_segment} steps merged per round; median ms per round (quartiles)\n")  # fmt: skip
    print("| setting | compactor CPU | spinning thread's loss (GIL held) | loss / CPU | round wall |")
    print("|---|---:|---:|---:|---:|")
    for s in settings:
        cpu, lost, wall = (list(x) for x in zip(*res[s]))
        share = statistics.median(b / a for a, b in zip(cpu, lost) if a > 0)
        print(f"| {s} | {_quartiles(cpu)} | {_quartiles(lost)} | {share:.2f} | {_quartiles(wall)} |")


if __name__ == "__main__":
    main()
