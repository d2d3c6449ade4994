"""Baseline (statistics.json + constraints.json) of 1,000,000 rows x 20 columns, beside whylogs.

Writes a CSV of 18 float, 1 integer and 1 string column, then times ``suggest_baseline`` on it
(CSV read + statistics + KLL sketches + files) and ``compute_statistics`` on the in-memory table.
whylogs profiles the same CSV in its own virtual environment (.bench/whylogs-venv, created with
``python -m venv .bench/whylogs-venv && .bench/whylogs-venv/bin/pip install whylogs "numpy<2" "pandas<2.3"``;
whylogs 1.6 fails on numpy 2)
when that exists; otherwise the table says so.

    .venv/bin/python benchmarks/monitor_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

WHYLOGS_PY = Path(__file__).resolve().parent.parent / ".bench" / "whylogs-venv" / "bin" / "python"
WHYLOGS_SCRIPT = """
import sys, time
import pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
t1 = time.perf_counter()
import whylogs as why
view = why.log(df).view()
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from smdbg.platform.monitor import DatasetFormat, DefaultModelMonitor, compute_statistics

    work = Path(tempfile.mkdtemp(prefix="smdbg-monitor-bench-"))
    rng = np.random.default_rng(0)
    cols = {f"x{i}": np.round(rng.normal(i, 1 + i, args.rows), 4) for i in range(18)}
    cols["count"] = rng.integers(0, 1000, args.rows)
    cols["segment"] = rng.choice(np.array(["a", "b", "c", "d", "e"]), args.rows)
    table = pa.table(cols)
    csv_path = work / "data.csv"
    pacsv.write_csv(table, csv_path)
    size_mb = csv_path.stat().st_size / 1e6

    t0 = time.perf_counter()
    compute_statistics(table)
    t_mem = time.perf_counter() - t0
    t0 = time.perf_counter()
    DefaultModelMonitor().suggest_baseline(str(csv_path), DatasetFormat.csv(), str(work / "baseline"))
    t_full = time.perf_counter() - t0
    read0 = time.perf_counter()
    pacsv.read_csv(csv_path)
    t_read = time.perf_counter() - read0

    why = "not installed (.bench/whylogs-venv missing)"
    why_total = None
    if WHYLOGS_PY.exists():
        proc = subprocess.run(
            [str(WHYLOGS_PY), "-c", WHYLOGS_SCRIPT, str(csv_path)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode == 0:
            read_s, profile_s = map(float, proc.stdout.split()[-2:])
            why_total = read_s + profile_s
            why = f"{profile_s:.2f}s profile + {read_s:.2f}s pandas read_csv"
        else:
            why = (
                f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
            )

    print(f"monitor benchmark: {args.rows:,} rows x 20 columns (CSV {size_mb:.0f} MB)")
    print(f"{'step':<46} {'seconds':>9}")
    print(f"{'smdbg compute_statistics (in-memory table)':<46} {t_mem:>9.2f}")
    print(f"{'smdbg suggest_baseline (CSV -> 2 JSON files)':<46} {t_full:>9.2f}")
    print(f"{'  of which pyarrow CSV read':<46} {t_read:>9.2f}")
    print(f"{'whylogs why.log(df) (same CSV)':<46} {why:>9}")
    if why_total is not None:
        print(f"ratio whylogs total / smdbg suggest_baseline: {why_total / t_full:.2f}")


if __name__ == "__main__":
    main()
