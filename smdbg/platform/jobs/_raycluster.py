"""The one door to a Ray cluster for the platform (jobs, rule jobs, AutoML).

``connect(address)`` imports Ray (or says which extra to install), checks that the address
answers before Ray's own client would retry for a minute, and joins the cluster as a driver
(once per process and address). ``alive_nodes`` and ``placement_group`` read what the cluster has
and reserve a gang of bundles, failing with what was asked and what exists instead of waiting.

The address comes from the caller (``ray_address=``), else ``SMDBG_RAY_ADDRESS``, else none: a
Ray instance started in this process (a laptop, or a test without a cluster).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from smdbg import _settings
from smdbg._optional import require
from smdbg.platform.jobs._errors import RayClusterError

__all__ = [
    "resolve_address",
    "probe",
    "connect",
    "alive_nodes",
    "placement_group",
    "check_fits",
    "describe_resources",
    "NAMESPACE",
]

NAMESPACE = "smdbg"
PROBE_TIMEOUT_S = 5.0
_lock = threading.Lock()
_connected: list[str | None] = []  # the address this process joined (one entry at most)


def resolve_address(address: str | None) -> str | None:
    """``address`` as given, else ``SMDBG_RAY_ADDRESS``, else ``None`` (a local Ray instance)."""
    return address or _settings.RAY_ADDRESS.get()


def probe(address: str) -> None:
    """Fail in seconds, with the address named, when nothing listens there."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayClusterError(
            f"ray_address {address!r} is not an address: expected host:port of the Ray head "
            "(e.g. 10.0.0.5:6379) or ray://host:10001"
        )
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise RayClusterError(
            f"no Ray cluster is reachable at {address!r} ({e}); start one (`ray start --head`), or "
            "point ray_address / SMDBG_RAY_ADDRESS at a running head (KubeRay service, Slurm allocation)"
        ) from None


def connect(address: str | None) -> Any:
    """The ``ray`` module, joined to the cluster at ``address`` (see :func:`resolve_address`)."""
    ray = require("ray", extra="ray", feature="the Ray backend")
    address = resolve_address(address)
    with _lock:
        if ray.is_initialized():
            if _connected and _connected[0] == address:
                return ray
            ray.shutdown()
        if address is not None:
            probe(address)
        options: dict[str, Any] = {"include_dashboard": False} if address is None else {}
        on_term = signal.getsignal(signal.SIGTERM)  # ray.init installs its own; the caller's stays
        try:
            with _loopback_as_given(address):
                ray.init(
                    address=address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False, **options
                )
        except Exception as e:
            raise RayClusterError(
                f"could not join the Ray cluster at {address or 'a local instance'}: {e}"
            ) from e
        finally:
            if threading.current_thread() is threading.main_thread() and on_term is not None:
                signal.signal(signal.SIGTERM, on_term)
        _connected[:] = [address]
    return ray


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@contextlib.contextmanager
def _loopback_as_given(address: str | None) -> Iterator[None]:
    """Join a head on 127.0.0.1 at 127.0.0.1. ``ray.init`` replaces a loopback address with the
    machine's outward one (so that drivers on several machines could be told apart), which misses
    a head that listens on loopback only (:class:`smdbg.testing.ray_cluster.LocalRayCluster`).
    Ray's own switch for keeping loopback (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read once at
    import into ``ray_constants.ENABLE_RAY_CLUSTER``) is turned off for the join only; a Ray
    without it joins as before."""
    host = (address or "").split("://", 1)[-1].rpartition(":")[0]
    constants: Any = sys.modules.get("ray._private.ray_constants")
    if host not in _LOOPBACK or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def describe_resources(resources: dict[str, float]) -> str:
    """Resources as people read them: memory in GiB, the per-node ``node:<ip>`` markers left out."""
    parts = []
    for key, value in sorted(resources.items()):
        if key.startswith("node:") or key == "object_store_memory":
            continue
        parts.append(f"{key}={value / 1024**3:.1f}GiB" if key == "memory" else f"{key}={value:g}")
    return "{" + ", ".join(parts) + "}"


def _strategy(ray: Any, count: int) -> tuple[str, list[dict[str, Any]]]:
    nodes = alive_nodes(ray)
    return ("STRICT_SPREAD" if len(nodes) >= count else "PACK"), nodes


def check_fits(ray: Any, bundles: list[dict[str, float]], name: str) -> str:
    """Raise :class:`RayClusterError` naming the request and what the cluster has when
    ``bundles`` can never fit in it; returns the strategy :func:`placement_group` uses."""
    strategy, nodes = _strategy(ray, len(bundles))
    asked = f"{len(bundles)} x {describe_resources(bundles[0])} ({strategy})"
    total = ray.cluster_resources()
    for key in sorted({k for b in bundles for k in b}):
        need = sum(b.get(key, 0.0) for b in bundles)
        fits_node = any(n.get("Resources", {}).get(key, 0.0) >= bundles[0].get(key, 0.0) for n in nodes)
        if total.get(key, 0.0) < need or not fits_node:
            raise RayClusterError(
                f"{name}: the Ray cluster cannot hold {asked}: it has {len(nodes)} node(s) with "
                f"{describe_resources(total)} in all (short of {key}); use a smaller instance_type or "
                "instance_count, or add nodes"
            )
    return strategy


def placement_group(ray: Any, bundles: list[dict[str, float]], name: str, timeout_s: float) -> Any:
    """A ready placement group of ``bundles``: one bundle per node (STRICT_SPREAD) when the cluster
    has as many nodes, else packed. Raises :class:`RayClusterError` naming the request and what the
    cluster has when it can never fit (:func:`check_fits`), or when it did not fit within
    ``timeout_s`` (other work holds the resources)."""
    from ray.util import placement_group as make
    from ray.util import remove_placement_group

    strategy = check_fits(ray, bundles, name)
    group = make(bundles, strategy=strategy, name=name)
    if not group.wait(timeout_seconds=timeout_s):
        remove_placement_group(group)
        raise RayClusterError(
            f"{name}: the Ray cluster could not reserve {len(bundles)} x {describe_resources(bundles[0])} "
            f"({strategy}) within {timeout_s:g} s: available now "
            f"{describe_resources(ray.available_resources())} of {describe_resources(ray.cluster_resources())}; "
            "other work holds the rest"
        )
    return group
