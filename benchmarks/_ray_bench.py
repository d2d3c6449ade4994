"""The Ray backend's figures (``automl_bench.py --backend ray``).

1. AutoML scaling: the same search (one dataset, the same time budget) on a Ray cluster of one
   simulated node, then of two (a second ``ray start`` joins), ``n_jobs`` = the cluster's CPUs,
   one CPU per candidate. Both searches start warm: before each, one held task per CPU of the
   cluster starts a Ray worker that has imported scikit-learn, so neither pays Ray's cold start
   inside its budget. The ratio is candidates evaluated on two nodes / on one. The simulated
   nodes share this machine's cores: a ratio above 1 needs spare cores.
2. Job submission overhead: a one-host job that prints one line, ``fit()`` to completion, on
   the local backend and on the Ray backend, in pairs (median of ``--repeats``; the overhead is
   the median of the pairs' differences); it is what
   Ray adds (reserving the placement group, a warm host actor, shipping the tree, the log through
   the driver). The first Ray job also starts the backend's long-lived driver (which joins the
   cluster); it is reported on its own.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _search(frame: pd.DataFrame, target: str, budget: float, address: str, n_jobs: int, tmp: str) -> int:
    from smdbg.platform.automl import AutoML

    automl = AutoML(target, total_job_runtime_in_seconds=budget, output_path=tmp, n_jobs=n_jobs,
                    tracker_db_url=f"sqlite:///{tmp}/t.db", generate_notebooks=False, ensemble=False,
                    backend="ray", ray_address=address, ray_candidate_cpus=1.0)  # fmt: skip
    automl.fit(frame, job_name=f"scale-{n_jobs}", logs=False)
    return len(automl.list_candidates())


def _warm(address: str) -> float:
    """One held task per CPU of the cluster, so that each CPU has a Ray worker that imported
    scikit-learn (this process is the searches' driver); the seconds it took."""
    from smdbg.platform.automl._ray import warm
    from smdbg.platform.jobs._raycluster import connect

    start = time.perf_counter()
    ray = connect(address)
    task = ray.remote(warm).options(num_cpus=1, scheduling_strategy="SPREAD")
    ray.get([task.remote(1.0) for _ in range(int(ray.cluster_resources()["CPU"]))])
    return time.perf_counter() - start


def automl_scaling(frame: pd.DataFrame, target: str, budget: float, cpus: int) -> dict[str, Any]:
    from smdbg.testing.ray_cluster import LocalRayCluster

    with (
        LocalRayCluster(nodes=1, cpus=cpus, pythonpath=str(ROOT)) as cluster,
        tempfile.TemporaryDirectory() as tmp,
    ):
        warm_one = _warm(cluster.address)
        one = _search(frame, target, budget, cluster.address, cpus, tmp)
        cluster.add_node()  # the driver stays joined; the new node's workers are warmed as well
        deadline = time.monotonic() + 60
        while _alive(cluster.address) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        warm_two = _warm(cluster.address)
        two = _search(frame, target, budget, cluster.address, 2 * cpus, tmp)
    ratio = two / one if one else None
    return {"budget_s": budget, "one_node": one, "two_nodes": two, "ratio": ratio, "warm_s": (warm_one, warm_two)}


def _alive(address: str) -> int:
    from smdbg.platform.jobs._raycluster import alive_nodes, connect

    return len(alive_nodes(connect(address)))


def _timed_job(backend: str, address: str | None, script: Path, name: str) -> float:
    from smdbg.platform.jobs import Estimator

    start = time.perf_counter()
    est = Estimator(str(script), backend=backend, ray_address=address)
    est.fit(job_name=name, logs=False)
    return time.perf_counter() - start


def submission_overhead(repeats: int) -> dict[str, Any]:
    from smdbg.platform.jobs._ray_link import stop_driver
    from smdbg.testing.ray_cluster import LocalRayCluster

    with (
        LocalRayCluster(nodes=1, cpus=2, pythonpath=str(ROOT)) as cluster,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ["SMDBG_HOME"] = f"{tmp}/home"
        script = Path(tmp) / "hi.py"
        script.write_text("print('hi')\n")
        first = _timed_job("ray", cluster.address, script, "ray-first")
        local, on_ray = [], []
        for i in range(repeats):  # in pairs, so that the machine's changing load hits both alike
            local.append(_timed_job("local", None, script, f"local-{i}"))
            on_ray.append(_timed_job("ray", cluster.address, script, f"ray-{i}"))
        stop_driver(cluster.address)
    return {
        "local_s": statistics.median(local),
        "ray_s": statistics.median(on_ray),
        "ray_first_s": first,
        "ray_minus_local_s": statistics.median([r - loc for r, loc in zip(on_ray, local, strict=True)]),
    }


def main(frame: pd.DataFrame, target: str, budget: float, repeats: int, cpus: int) -> None:
    scale = automl_scaling(frame, target, budget, cpus)
    over = submission_overhead(repeats)
    print(
        f"AutoML on Ray, {budget:g} s budget, {cpus} CPUs per simulated node, this machine: {os.cpu_count()} cores"
    )
    print("| cluster | candidates | ratio vs 1 node |")
    print("|---|---|---|")
    print(f"| 1 node | {scale['one_node']} | 1.00 |")
    ratio = "-" if scale["ratio"] is None else f"{scale['ratio']:.2f}"
    print(f"| 2 nodes | {scale['two_nodes']} | {ratio} |")
    print("warm-up before each search (outside its budget): " + ", ".join(f"{w:.1f} s" for w in scale["warm_s"]))
    print(f"\nJob submission, 1-host job, fit() to Completed, median of {repeats} (local, Ray) pairs")
    print("| backend | seconds | over local |")
    print("|---|---|---|")
    print(f"| local | {over['local_s']:.2f} | - |")
    print(f"| ray | {over['ray_s']:.2f} | {over['ray_minus_local_s']:+.2f} |")
    print(f"| ray (first job, starts the driver) | {over['ray_first_s']:.2f} | - |")
