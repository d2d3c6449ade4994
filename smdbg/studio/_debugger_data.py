"""The debugger pages' data: trials found under the configured roots, read through the trial API.

:class:`TrialCatalog` finds trials (a folder with ``trial.json`` or ``events/``) under a few
root folders and opens each once (a live :class:`~smdbg.trial.Trial` keeps picking up new
segments). A trial is addressed by its path relative to its root; only trials the catalog found
are opened, so a URL can never make the studio read outside the configured roots.

The query functions below return JSON-ready dicts; they raise :class:`StudioNotFound` (the pages
answer 404 with a link back) for an unknown trial, tensor, worker or step.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smdbg.exceptions import SmdbgError, TensorUnavailable
from smdbg.studio._layout import page_url
from smdbg.studio._roots import FolderIndex
from smdbg.studio._series import DEFAULT_POINTS, MAX_POINTS, downsample, heatmap, histogram
from smdbg.trial import RAW, Trial, create_trial, read_findings

__all__ = [
    "StudioNotFound", "TrialCatalog", "trial_overview", "series_choices", "tensor_series", "tensor_at_step",
    "tensor_heatmap", "rule_timeline", "trial_version", "check_worker", "check_reduction",
]  # fmt: skip

#: Heatmap columns at most (steps evenly chosen over the run).
MAX_HEATMAP_STEPS = 120


class StudioNotFound(SmdbgError, LookupError):
    """Something a URL names does not exist: the page says what, with a link back."""

    def __init__(self, what: str, back: str, back_label: str) -> None:
        super().__init__(what)
        self.what, self.back, self.back_label = what, back, back_label


def _is_trial(path: Path) -> bool:
    return (path / "trial.json").is_file() or (path / "events").is_dir()


class TrialCatalog:
    """The trials under ``roots`` (local folders). Thread-safe; trials are opened on first use
    and kept (they refresh themselves while their training runs)."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        self.index = FolderIndex(roots, _is_trial)
        self._lock = threading.Lock()
        self._open: dict[str, Trial] = {}

    def ids(self) -> list[str]:
        return list(self.index.all())

    def trial(self, trial_id: str) -> Trial:
        """The open trial ``trial_id``; StudioNotFound when the catalog has no such trial."""
        found = self.index.get(trial_id)
        if found is None:
            raise StudioNotFound(f"no trial {trial_id!r} under the studio's trial folders", "/debugger", "all trials")
        with self._lock:
            tr = self._open.get(trial_id)
            if tr is None:
                tr = self._open[trial_id] = create_trial(str(found.path), name=trial_id, timeout=0.0)
            return tr


def _worker_codes(trial: Trial, name: str) -> list[str]:
    src = trial.source
    codes = np.unique(src.tensor_cols(name)["worker"]).tolist()
    return sorted(src.workers.names[c] for c in codes if 0 <= c < len(src.workers.names))


def _last_complete(trial: Trial) -> int:
    """The last complete step; after the end of training, the last step saved."""
    if trial.training_has_ended():
        steps = trial.steps(show_incomplete_steps=True)
        return steps[-1] if steps else -1
    return trial.last_complete_step()


def trial_overview(trial: Trial) -> dict[str, Any]:
    """Tensors by collection (with their workers and reductions), the run's state, and what
    could not be read."""
    trial.refresh(force=True)
    tensors: dict[str, Any] = {}
    for name in trial.tensor_names():
        t = trial.tensor(name)
        tensors[name] = {"workers": _worker_codes(trial, name), "reductions": t.reductions()}
    by_collection: dict[str, list[str]] = {}
    for cname in sorted(trial.collections()):
        members = trial.tensor_names(collection=cname)
        if members:
            by_collection[cname] = members
    grouped = {n for ms in by_collection.values() for n in ms}
    if len(grouped) < len(tensors):
        by_collection["(no collection)"] = sorted(set(tensors) - grouped)
    meta = trial.metadata
    return {
        "trial": trial.name, "path": trial.path, "framework": meta.get("framework"),
        "workers": trial.workers(), "num_workers": trial.num_workers(), "collections": by_collection,
        "tensors": tensors, "steps": len(trial.steps(show_incomplete_steps=True)),
        "last_complete_step": _last_complete(trial), "ended": trial.training_has_ended(),
        "end_reasons": trial.end_reasons(), "corrupt": trial.corrupt_segments,
        "hook_errors": meta.get("hook_errors") or 0,
    }  # fmt: skip


def _tensor(trial: Trial, name: str) -> Any:
    try:
        return trial.tensor(name)
    except TensorUnavailable:
        raise StudioNotFound(
            f"trial {trial.name!r} has no tensor {name!r}", page_url("/debugger/trial", trial=trial.name), "the trial's tensors"
        ) from None


def check_worker(trial: Trial, name: str, worker: str | None) -> str:
    workers = _worker_codes(trial, name)
    if worker is None or worker == "":
        if not workers:
            raise StudioNotFound(f"tensor {name!r} has no saved values yet", page_url("/debugger/trial", trial=trial.name), "the trial")
        return workers[0]
    if worker not in workers:
        raise StudioNotFound(
            f"tensor {name!r} of trial {trial.name!r} has no worker {worker!r} (it has {', '.join(workers) or 'none'})",
            page_url("/debugger/trial", trial=trial.name, tensor=name), "the tensor",
        )  # fmt: skip
    return worker


#: Reductions computed from raw tensors for a tensor saved without any (read on request).
COMPUTED = ("mean", "abs_max", "l2")


def _raw_is_scalar(trial: Trial, name: str) -> bool:
    src = trial.source
    tc = src.tensor_cols(name)
    code = src.reductions.index.get(RAW, -1)
    rows = tc["row"][tc["reduction"] == code]
    if not len(rows):
        return False
    shape = src.row_info(int(rows[0])).get("shape")
    return shape is not None and int(np.prod(shape)) == 1


def series_choices(trial: Trial, name: str) -> list[str]:
    """What a tensor's history can show: ``value`` for a raw scalar, its stored reductions, or
    for a raw tensor saved without reductions a few computed from it (:data:`COMPUTED`)."""
    stored = _tensor(trial, name).reductions()
    reds = [r for r in stored if r != RAW]
    if RAW in stored and _raw_is_scalar(trial, name):
        return ["value", *reds]
    return reds or (list(COMPUTED) if RAW in stored else [])


def check_reduction(trial: Trial, name: str, reduction: str | None) -> tuple[str, list[str]]:
    """The reduction to draw (``reduction``, or the first of :func:`series_choices` when None)
    and the choices; StudioNotFound when the tensor has no such reduction."""
    choices = series_choices(trial, name)
    chosen = reduction or (choices[0] if choices else "value")
    if chosen not in choices:
        raise StudioNotFound(
            f"tensor {name!r} has no reduction {chosen!r} (it has {', '.join(choices) or 'none'})",
            page_url("/debugger/trial", trial=trial.name, tensor=name), "the tensor",
        )  # fmt: skip
    return chosen, choices


def tensor_series(trial: Trial, name: str, reduction: str | None = None, worker: str | None = None,
                  max_points: int = DEFAULT_POINTS,
                  x_range: tuple[float | None, float | None] = (None, None)) -> dict[str, Any]:  # fmt: skip
    """One reduction's history over the whole run (steps), down-sampled keeping minima and maxima.
    ``reduction`` None picks the first of :func:`series_choices`; ``value`` is a raw scalar's."""
    t = _tensor(trial, name)
    worker = check_worker(trial, name, worker)
    chosen, choices = check_reduction(trial, name, reduction)
    computed = chosen not in t.reductions() and chosen != "value"
    if computed:  # computed from the raw tensors (sorted by step)
        steps, values = t.history(chosen, worker=worker)
    else:
        rows = t.history_rows(None if chosen == "value" else chosen, worker=worker)
        steps, values = rows["step"], rows["value"]
    points = max(2, min(int(max_points), MAX_POINTS))
    return {"tensor": name, "reduction": chosen, "worker": worker, "choices": choices, "computed": computed,
            **downsample(steps, np.asarray(values, dtype=np.float64), points, x_range)}  # fmt: skip


def tensor_at_step(trial: Trial, name: str, step: int | None, worker: str | None = None, bins: int = 40) -> dict[str, Any]:
    """The raw tensor at ``step`` (default: the last one saved) as values and a histogram."""
    t = _tensor(trial, name)
    worker = check_worker(trial, name, worker)
    raw_steps = t.history_rows(RAW, worker=worker)["step"]
    saved = sorted({int(s) for s in raw_steps.tolist()})
    if not saved:
        return {"tensor": name, "worker": worker, "step": None, "raw_steps": [], "reason":
                f"no raw values of {name!r} were saved (only reductions); save its collection with save_raw_tensor"}  # fmt: skip
    if step is None:
        step = saved[-1]
    if step not in saved:
        raise StudioNotFound(
            f"tensor {name!r} has no raw value at step {step} on worker {worker!r} (saved steps {saved[0]}..{saved[-1]})",
            page_url("/debugger/trial", trial=trial.name, tensor=name), "the tensor",
        )  # fmt: skip
    value = t.value(step, worker=worker)
    return {"tensor": name, "worker": worker, "step": step, "raw_steps": saved, "reason": None,
            **histogram(value, bins=bins)}  # fmt: skip


def tensor_heatmap(trial: Trial, name: str, worker: str | None = None, bins: int = 30) -> dict[str, Any]:
    """Distributions over steps from the raw tensors saved (at most 120 steps, evenly chosen,
    said as ``shown`` of ``total``)."""
    t = _tensor(trial, name)
    worker = check_worker(trial, name, worker)
    rows = t.history_rows(RAW, worker=worker)
    saved = sorted({int(s) for s in rows["step"].tolist()})
    if not saved:
        return {"tensor": name, "worker": worker, "shown": 0, "total": 0, "steps": [], "edges": [], "counts": [],
                "max_count": 0, "reason": "no raw values saved: a distribution needs the raw tensor"}  # fmt: skip
    pick = saved
    if len(saved) > MAX_HEATMAP_STEPS:
        pick = [saved[i] for i in np.linspace(0, len(saved) - 1, MAX_HEATMAP_STEPS).round().astype(int).tolist()]
    arrays = [t.value(s, worker=worker) for s in pick]
    return {"tensor": name, "worker": worker, "shown": len(pick), "total": len(saved), "reason": None,
            **heatmap(pick, arrays, bins)}  # fmt: skip


def _loss_tensor(trial: Trial) -> str | None:
    losses = trial.tensor_names(collection="losses")
    return losses[0] if losses else None


def rule_timeline(trial: Trial, max_points: int = DEFAULT_POINTS,
                  x_range: tuple[float | None, float | None] = (None, None)) -> dict[str, Any]:  # fmt: skip
    """Each rule job's status and findings (by step), beside the loss curve when there is one."""
    rules = []
    for rname, doc in trial.rule_statuses().items():
        findings = read_findings(trial, rname)
        rules.append({
            "rule": rname, "status": str(doc.status), "reason": doc.reason, "last_step": doc.last_step,
            "findings_count": doc.findings_count, "updated": doc.updated,
            "findings": [{"step": f.step, "tensor": f.tensor, "message": f.message, "mode": f.mode} for f in findings],
        })  # fmt: skip
    loss = _loss_tensor(trial)
    curve = tensor_series(trial, loss, "value", None, max_points, x_range) if loss else None
    return {"trial": trial.name, "rules": rules, "loss": curve}


def trial_version(trial: Trial) -> tuple[Any, ...]:
    """A cheap fingerprint that changes when the trial gets new data, ends, or a rule job writes:
    the live pages compare it to decide when to push an update."""
    trial.refresh(force=True)
    src = trial.source
    statuses = trial.rule_statuses()
    return (
        src.nrows, _last_complete(trial), trial.training_has_ended(), len(src.corrupt),
        tuple((n, d.updated, d.findings_count, str(d.status)) for n, d in statuses.items()),
    )
