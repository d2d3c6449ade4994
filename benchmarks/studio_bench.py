"""Studio benchmark, one table: the experiment table over HTTP at the issue's size, and in a real
Chromium a 100,000-point series drawn and a live update shown (issue 22's four targets).

    .venv/bin/python benchmarks/studio_bench.py            # 10,000 components x 100 metrics; 100,000 points
    .venv/bin/python benchmarks/studio_bench.py --quick    # 1,000 x 20; 10,000 points; 3 repeats
    .venv/bin/python benchmarks/studio_bench.py --db /tmp/studio-bench.db   # keep / reuse the database
    .venv/bin/python benchmarks/studio_bench.py --no-browser                # the HTTP rows only

The database is a real SQLite tracker database with one experiment ``bench`` of 10 trials,
``--components`` trial components, each with 4 parameters and ``--metrics`` metric summaries
(the table reads summaries, not points, so the points themselves are not written: building the
database takes seconds instead of minutes). It is written with bulk inserts into the tracker's
own tables, then served by ``smdbg.studio.serve`` on 127.0.0.1.

Each row of the table is one :class:`Row` in ``rows``: a name, the target in milliseconds, and a
``measure(ctx)`` that returns seconds for one repetition (``ctx.get(path)`` times one HTTP GET;
the browser rows, ``_studio_browser.py``, drive ``ctx.browser``). The first run and the median
of ``--repeat`` more are printed with the median's ratio to the target (below 1 meets it), the
median CPU time this process spent per request (HTTP rows: client and server together; on a busy
machine the wall time is mostly waiting for a core, the CPU time is not), and, where a row names
one, a baseline and how many times the median beats it (baseline/median):

* table rows: the in-memory answer every tracker backend inherits (``TrackerBackend.query_components``
  loading the experiment with ``list_components``), what a table without server-side paging does;
* series render: the same page asking for 20,000 points (the most the server sends).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _studio_browser as browser_rows
import httpx
import numpy as np

BATCH = 20_000


@dataclass
class Context:
    """What a row's ``measure`` gets: the served studio and the database behind it."""

    base_url: str
    db_url: str
    components: int
    metrics: int
    client: httpx.Client
    browser: Any = None  # a _studio_browser.Browser for the browser rows
    extra: dict[str, Any] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)

    def get(self, path: str) -> float:
        """Seconds for one GET of ``path`` (fails unless it answers 200). The CPU time this
        process spent on it (client and server: the studio runs in this process) is appended
        to ``cpu``."""
        t0, c0 = time.perf_counter(), time.process_time()
        r = self.client.get(self.base_url + path)
        elapsed = time.perf_counter() - t0
        self.cpu.append(time.process_time() - c0)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:300]}")
        return elapsed


@dataclass
class Row:
    name: str
    target_ms: float
    measure: Callable[[Context], float]
    baseline: Callable[[Context], float] | None = None  # seconds; the median of baseline_runs runs
    baseline_runs: int = 1
    in_browser: bool = False


def _in_memory(**query: Any) -> Callable[[Context], float]:
    def run(ctx: Context) -> float:
        from smdbg.tracker import ComponentQuery, TrackerBackend, get_backend

        backend = get_backend(ctx.db_url)
        t0 = time.perf_counter()
        TrackerBackend.query_components(backend, ComponentQuery(experiment_name="bench", **query))
        return time.perf_counter() - t0

    return run


rows: list[Row] = [
    Row(
        "experiment table: first page (50 rows)",
        300,
        lambda ctx: ctx.get("/experiments/experiment?experiment=bench"),
        _in_memory(),
    ),
    Row(
        "sort by a metric column (m042 Last, desc)",
        300,
        lambda ctx: ctx.get("/experiments/experiment?experiment=bench&sort=Metrics.m042.Last&desc=1"),
        _in_memory(sort_by="Metrics.m042.Last", descending=True),
    ),
    Row(
        "filter on a parameter + free text",
        300,
        lambda ctx: ctx.get("/experiments/experiment?experiment=bench&f=Parameters.lr%3C0.01&q=adam"),
    ),
    Row(
        "filter on a metric + sort by a parameter",
        300,
        lambda ctx: ctx.get("/experiments/experiment?experiment=bench&f=Metrics.m007.Min%3E0.5&sort=Parameters.lr"),
    ),
    Row(
        "page 150 of 200 (offset 7,450)",
        300,
        lambda ctx: ctx.get("/experiments/experiment?experiment=bench&page=150&sort=Metrics.m099.Avg"),
    ),
    Row("one trial's table (1,000 components)", 300, lambda ctx: ctx.get("/experiments/trial?experiment=bench&trial=trial-3")),
    Row("browser: {points}-point series, request -> chart drawn (2,000 drawn)", 1000, lambda ctx: browser_rows.series_render(ctx.browser),
        lambda ctx: browser_rows.series_render_dense(ctx.browser), baseline_runs=3, in_browser=True),
    Row("browser: live update, save -> shown", 2000, lambda ctx: browser_rows.live_update(ctx.browser),
        in_browser=True),
]  # fmt: skip


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def build(db_url: str, components: int, metrics: int) -> float:
    """Create experiment ``bench`` with 10 trials and ``components`` components; seconds taken."""
    import sqlalchemy as sa

    from smdbg.tracker import get_backend
    from smdbg.tracker._schema import tables as T

    t0 = time.perf_counter()
    backend = get_backend(db_url)
    engine = backend._db.engine  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    now = time.time() - components
    with engine.begin() as conn:
        conn.execute(sa.insert(T.experiments).values(id=1, name="bench", display_name="bench", tags="{}",
                                                     creation_time=now))  # fmt: skip
        conn.execute(sa.insert(T.trials), [
            {"id": t + 1, "name": f"trial-{t}", "experiment_id": 1, "display_name": f"trial {t}", "tags": "{}",
             "creation_time": now + t} for t in range(10)
        ])  # fmt: skip
        per = max(1, BATCH // max(metrics, 1))  # components per insert batch
        for start in range(0, components, per):
            ids = range(start + 1, min(components, start + per) + 1)
            conn.execute(sa.insert(T.components), [
                {"id": i, "name": f"tc-{i:05d}", "display_name": f"run {i}", "status": "Completed" if i % 7 else "Failed",
                 "start_time": now + i, "end_time": now + i + 60, "creation_time": now + i,
                 "last_modified_time": now + i, "tags": "{}"} for i in ids
            ])  # fmt: skip
            conn.execute(sa.insert(T.associations), [{"trial_id": (i - 1) % 10 + 1, "component_id": i} for i in ids])
            conn.execute(sa.insert(T.parameters), [
                row for i in ids for row in (
                    {"component_id": i, "name": "lr", "number_value": float(10 ** rng.uniform(-4, -1)), "string_value": None},
                    {"component_id": i, "name": "batch", "number_value": float(2 ** (i % 6 + 4)), "string_value": None},
                    {"component_id": i, "name": "optimizer", "number_value": None, "string_value": ["sgd", "adam"][i % 2]},
                    {"component_id": i, "name": "seed", "number_value": float(i), "string_value": None},
                )
            ])  # fmt: skip
            values = rng.uniform(size=(len(ids), metrics, 3))
            conn.execute(sa.insert(T.metric_summaries), [
                {"component_id": i, "name": f"m{m:03d}", "count": 100, "mean": float(v[1]), "m2": float(v[2]),
                 "min": float(v[0] * v[1]), "max": float(v[1] + v[0]), "last": float(v[2])}
                for i, block in zip(ids, values) for m, v in enumerate(block)
            ])  # fmt: skip
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--components", type=int, default=10_000)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--points", type=int, default=100_000, help="steps of the browser rows' long series")
    ap.add_argument("--quick", action="store_true", help="1,000 components x 20 metrics, 10,000 points, 3 repeats")
    ap.add_argument("--db", default=None, help="SQLite file to build (or reuse, if it exists)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baselines")
    ap.add_argument("--no-browser", action="store_true", help="skip the browser rows (no Chromium)")
    args = ap.parse_args()
    if args.quick:
        args.components, args.metrics, args.repeat, args.points = 1_000, 20, 3, 10_000
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="studio-bench-")) / "tracker.db"
    db_url = f"sqlite:///{path}"
    if path.exists():
        print(f"reusing {path}")
    else:
        print(f"building {args.components:,} components x {args.metrics} metrics in {path} ...", flush=True)
        print(f"built in {build(db_url, args.components, args.metrics):.1f} s")

    from smdbg.studio import serve

    trials = path.parent / "trials"
    trials.mkdir(exist_ok=True)
    handle = serve(port=0, tracker_db_url=db_url, trial_roots=[str(trials)])
    table = []
    ctx = None
    try:
        with httpx.Client(timeout=120) as client:
            ctx = Context(handle.base_url, db_url, args.components, args.metrics, client)
            if not args.no_browser:
                ctx.browser = browser_rows.Browser(handle.base_url, trials, args.points)
            for row in rows:
                if row.in_browser and ctx.browser is None:
                    continue
                first = row.measure(ctx)
                ctx.cpu.clear()
                times = [row.measure(ctx) for _ in range(args.repeat)]
                median = statistics.median(times) * 1000
                cpu = statistics.median(ctx.cpu) * 1000 if ctx.cpu else None
                base = None
                if row.baseline is not None and not args.no_baseline:
                    base = statistics.median(row.baseline(ctx) for _ in range(row.baseline_runs)) * 1000
                table.append((row.name.format(points=f"{args.points:,}"), row.target_ms, first * 1000, median,
                              max(times) * 1000, cpu, base))  # fmt: skip
    finally:
        if ctx is not None and ctx.browser is not None:
            ctx.browser.close()
        handle.stop()
    header = ("case", "first ms", "median ms", "max ms", "cpu ms", "target ms", "median/target", "baseline ms",
              "baseline/median")  # fmt: skip
    lines = [header]
    for name, target, first, median, most, cpu, base in table:
        lines.append((
            name, f"{first:.0f}", f"{median:.0f}", f"{most:.0f}", "" if cpu is None else f"{cpu:.0f}", f"{target:.0f}",
            f"{median / target:.2f}",
            "" if base is None else f"{base:.0f}", "" if base is None else _times(base / median),
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{args.components:,} trial components x {args.metrics} metrics, SQLite, over HTTP on 127.0.0.1;"
          f" browser rows: a {args.points:,}-step series in Chromium; {os.cpu_count()} CPUs, load average {load}")
    print("baselines: table rows, the in-memory answer (load the experiment, sort in Python); series render,"
          " the same page at points=20000")  # fmt: skip
    for r in lines:
        print(" | ".join(x.ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
