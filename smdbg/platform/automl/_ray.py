"""AutoML candidates as Ray tasks: the search (its Optuna study) stays in the caller; each
candidate's cross-validation runs as one task somewhere on the cluster.

The training data travels once through Ray's object store (one ``ray.put`` per search); a node
keeps it in a temporary file per content hash, so its tasks read it from disk like a local
candidate does. Tasks are spread over the nodes (``SPREAD``) and never retried. A task past its
time limit is cancelled with ``force=True`` (its worker process is killed), so the job's time
budget holds as it does locally. A stopped job (:class:`._cancel.CancelScope`) submits no new
task and cancels its running ones the same way. The last fold's model comes back as bytes and
is written where the search keeps it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._cancel import CancelScope
from ._worker import CandidateFailure, TrainTask, train_task

__all__ = ["ray_task_runner", "run_on_node"]


def _node_copy(data: bytes) -> str:
    """A file on this node holding ``data`` (written once per content, atomically)."""
    digest = hashlib.sha256(data).hexdigest()[:24]
    path = Path(tempfile.gettempdir()) / f"smdbg-automl-{digest}.pkl"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return str(path)


def run_on_node(task: TrainTask, data: bytes) -> dict[str, Any]:
    """The body of one candidate's Ray task: train, and return the result with the node's id and
    the saved model's bytes."""
    import ray

    local = dataclasses.replace(task, data_path=_node_copy(data))
    model_file = None
    if task.search_model_path is not None:
        fd, model_file = tempfile.mkstemp(suffix=".joblib")
        os.close(fd)
        local = dataclasses.replace(local, search_model_path=model_file)
    try:
        result = train_task(local)
        if model_file is not None:
            result["model_bytes"] = Path(model_file).read_bytes()
    finally:
        if model_file is not None:
            os.unlink(model_file)
    result["node_id"] = ray.get_runtime_context().get_node_id()
    return result


def _raise_if_stopped(cancel: CancelScope | None) -> None:
    if cancel is not None and cancel.cancelled():
        raise CandidateFailure(f"stopped before it finished: {cancel.reason}", stopped=True)


def warm(hold_s: float = 0.0) -> str:
    """A task that only waits ``hold_s``: it starts a Ray worker that has imported this module
    (scikit-learn, pandas); held, as many tasks as CPUs start as many workers."""
    import time

    import ray

    time.sleep(hold_s)
    return str(ray.get_runtime_context().get_node_id())


def ray_task_runner(
    address: str | None, cpus: float, workers: int = 1, warm_s: float = 60.0
) -> Callable[[TrainTask, float, CancelScope | None], dict[str, Any]]:
    """``run(task, timeout, cancel)`` with :func:`._forkhost.run_task`'s contract, on a Ray cluster.

    ``workers`` warm-up tasks start first (waited for up to ``warm_s``): a Ray worker's first
    task pays for starting Python and importing scikit-learn, which would otherwise count against
    the first candidates' time limits."""
    from smdbg.platform.jobs._raycluster import connect

    ray = connect(address)
    options: dict[str, Any] = {"num_cpus": cpus, "scheduling_strategy": "SPREAD", "max_retries": 0}
    remote = ray.remote(run_on_node).options(**options)
    ray.wait([ray.remote(warm).options(**options).remote() for _ in range(workers)], num_returns=workers,
             timeout=warm_s)  # fmt: skip
    lock = threading.Lock()
    data_refs: dict[str, Any] = {}

    def run(task: TrainTask, timeout: float, cancel: CancelScope | None = None) -> dict[str, Any]:
        _raise_if_stopped(cancel)
        with lock:
            if task.data_path not in data_refs:
                data_refs[task.data_path] = ray.put(Path(task.data_path).read_bytes())
        ref = remote.remote(task, data_refs[task.data_path])
        token = None if cancel is None else cancel.hold(lambda: ray.cancel(ref, force=True))
        ready, _ = ray.wait([ref], timeout=None if math.isinf(timeout) else max(timeout, 0.0))
        if cancel is not None and token is not None:
            cancel.release(token)
        if not ready:
            ray.cancel(ref, force=True)
            _raise_if_stopped(cancel)
            raise CandidateFailure(
                f"training ran past its time limit of {timeout:.3g} s and its Ray task was cancelled",
                timed_out=True,
            )
        try:
            result: dict[str, Any] = ray.get(ref)
        except Exception as e:  # the task's error, or its worker or node died (or it was cancelled)
            _raise_if_stopped(cancel)
            cause = getattr(e, "cause", None)
            raise CandidateFailure(f"{type(cause or e).__name__}: {cause or e}".splitlines()[0]) from None
        model = result.pop("model_bytes", None)
        if model is not None and task.search_model_path is not None:
            Path(task.search_model_path).write_bytes(model)
        return result

    return run
