"""What the writer pays to publish one segment: encode the buffered records, write the Parquet
file, add the manifest entry (``TrialWriter.write_segment``, no fsync), per segment.

    python benchmarks/segment_cost.py [--segments 200]

Two shapes of a one-second segment: the long-run case's (200 tensors x 3 reductions, one step:
600 rows) and a hooked MLP's (12 tensors x 3 reductions, 190 steps: 6,840 rows). Prints the
median wall time and the writer thread's CPU time per segment (its Python part holds the GIL
that training needs). Run it with ``PYTHONPATH`` at another checkout to compare versions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

SHAPES = ((200, 1), (12, 190))  # (tensors, steps) per segment
REDUCTIONS = ("mean", "abs_max", "l2")


def cost(tensors: int, steps: int, segments: int) -> tuple[float, float]:
    """(median wall s, median thread CPU s) per segment."""
    from smdbg.store import Record, TrialWriter, open_fs
    from smdbg.store._segment import ColumnBuffer, record_nbytes

    names = [f"Net_layer{i}.weight" for i in range(tensors)]
    with tempfile.TemporaryDirectory(prefix="smdbg-segcost-") as d:
        sink = TrialWriter(open_fs(d), "worker_0", fsync=False)
        walls, cpus = [], []
        for seg in range(segments + 1):
            buf = ColumnBuffer()
            for k in range(steps):
                step = seg * steps + k
                recs = [Record(n, ("weights",), r, 0.5 + step, "float32", None, None) for n in names for r in REDUCTIONS]
                buf.extend(step, "TRAIN", step, time.time(), recs, record_nbytes(recs))
            w0, c0 = time.perf_counter(), time.thread_time()
            sink.write_segment(buf)
            if seg:  # the first pays pyarrow's lazy imports
                walls.append(time.perf_counter() - w0)
                cpus.append(time.thread_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--segments", type=int, default=200, help="segments per shape")
    args = p.parse_args(argv)
    print("| segment | rows | wall ms / segment | writer CPU ms / segment |")
    print("|---|---:|---:|---:|")
    for tensors, steps in SHAPES:
        wall, cpu = cost(tensors, steps, args.segments)
        print(f"| {tensors} tensors x 3 reductions x {steps} steps | {tensors * 3 * steps:,} | {wall * 1e3:.2f} | "
              f"{cpu * 1e3:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
