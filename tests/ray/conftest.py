"""A real two-node Ray cluster for the Ray backend's tests, started once per session
(:class:`smdbg.testing.ray_cluster.LocalRayCluster`: both nodes on this machine, 2 CPUs and a
100 MB object store each, stopped by the process groups it started, never ``ray stop``), and the
Ray backend's long-lived driver that its jobs started, stopped before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (``127.0.0.1:port``) of a running two-node Ray cluster."""
    from smdbg.platform.jobs._ray_link import stop_driver
    from smdbg.testing.ray_cluster import LocalRayCluster

    with LocalRayCluster(nodes=2, cpus=2, object_store_mb=100, pythonpath=str(ROOT)) as cluster:
        try:
            yield cluster.address
        finally:  # the long-lived driver the jobs started goes first
            stop_driver(cluster.address)
