"""After the search, within the job's budget: the ensemble and the refit of the winner.

Each step first asks the :class:`._budget.Budget` whether its estimated cost fits the time left;
a child task also gets the time left as its limit. What does not fit is left out and recorded
(``describe_auto_ml_job()["TimeBudget"]["SkippedSteps"]``), in this order of preference:

1. the ensemble chooses among fewer of the best candidates (the ones whose refits fit);
2. no ensemble: the best single candidate is refit instead;
3. no refit: ``best_model`` is the best candidate's model fitted during the search on the
   training part of the last fold (kept on disk while it is the best);
4. no notebooks (:func:`notebooks_fit`, asked by the job after it published the winner).

:func:`finish` sees the job only through :class:`Finishing`: the data it chooses with, the
candidate list (and the lock that guards it), a :class:`._artifacts.CandidateModels` that builds
models, and two callbacks. It returns the winner; publishing it is the job's business.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ._artifacts import CandidateModels
from ._budget import NOTEBOOK_SECONDS, SAFETY, Budget, refit_seconds, tolerance
from ._cancel import CancelScope
from ._ensemble import select_ensemble
from ._errors import AutoMLJobError
from ._problem import Objective
from ._search import Candidate
from ._worker import CandidateFailure

__all__ = ["finish", "finish_stopped", "notebooks_fit", "Finishing", "NoWinnerError", "ENSEMBLE_POOL", "UNLIMITED_REFIT_SECONDS"]

ENSEMBLE_POOL = 10  # best candidates the ensemble selection chooses from
UNLIMITED_REFIT_SECONDS = 3600.0  # a refit's limit when the job has no time budget


@dataclass
class Finishing:
    """What choosing and building the winner needs from its job, and nothing else."""

    job_name: str
    budget: Budget
    objective: Objective
    classes: list[Any] | None
    fold_ids: np.ndarray  # -1: train only; k >= 0: validation rows of fold k
    y_valid: np.ndarray  # the target of the validation rows, in the order of the predictions
    predictions: Mapping[str, np.ndarray]  # out-of-fold predictions by candidate name
    candidates: list[Candidate]  # the job's live list; read and changed under ``lock``
    lock: threading.RLock
    models: CandidateModels
    add_candidate: Callable[[Candidate], None]  # record a new candidate (the ensemble)
    log: Callable[[str], None]
    ensemble: bool  # the job's ``ensemble`` option
    total_runtime: float | None  # the job's total_job_runtime_in_seconds
    cancel: CancelScope | None = None  # the job's stop switch: a stop ends the refits too


class NoWinnerError(AutoMLJobError):
    """No candidate completed; ``reason`` is the job's failure reason."""

    def __init__(self, job_name: str, reason: str) -> None:
        super().__init__(f"AutoML job {job_name!r} failed: {reason}")
        self.reason = reason


def _refit_timeout(r: Finishing, fallback: bool) -> float:
    """A refit may use the time left before the finishing steps; without a fallback, up to the tolerance."""
    b = r.budget
    if not b.limited:
        return UNLIMITED_REFIT_SECONDS
    end = b.refit_end() if fallback else b.deadline + tolerance(r.total_runtime or 0.0)
    return max(end - time.monotonic(), 0.5)


def _left(r: Finishing) -> float:
    return max(r.budget.refit_end() - time.monotonic(), 0.0)


def _skip(budget: Budget, log: Callable[[str], None], step: str, reason: str) -> None:
    budget.skip(step, reason)
    log(f"{step} skipped to stay within the time budget: {reason}")


def finish(r: Finishing) -> Candidate:
    """Choose and build the winner (saved, ``model_path`` set); :class:`NoWinnerError` when
    nothing completed."""
    b = r.budget
    b.search_ended = time.monotonic()
    with r.lock:
        ranked = b.ranked(r.candidates)
        n_candidates = len(r.candidates)
    if not ranked:
        _no_winner(r, n_candidates)
    best = ranked[0]
    winner = best
    if r.ensemble and len(ranked) > 1:
        ens = _ensemble(r, ranked)
        if ens is not None:
            winner = _build_ensemble(r, ens, best)
    if winner is best:
        _refit_best(r, best)
    return winner


def finish_stopped(r: Finishing) -> Candidate | None:
    """After a stop: the best single candidate so far, with the model the search kept for it
    when there is one; no refit, ensemble or notebook starts (a completed candidate's model is
    still trained on request). An ensemble chosen but not built is marked Stopped. None when no
    candidate completed."""
    r.budget.search_ended = r.budget.search_ended or time.monotonic()
    reason = r.cancel.reason if r.cancel is not None else None
    with r.lock:
        for c in r.candidates:
            if c.members is not None and c.model_path is None and c.status == "Completed":
                c.status, c.failure_reason = "Stopped", f"not built: the job was stopped ({reason})"
        ranked = r.budget.ranked(r.candidates)
    if not ranked:
        return None
    best = ranked[0]
    kept = best.search_model_path
    if best.model_path is None and kept is not None and os.path.exists(kept):
        r.models.adopt_search_model(best)
    return best


def notebooks_fit(budget: Budget, log: Callable[[str], None]) -> bool:
    """Whether writing the notebooks fits the time left; records the skip when it does not."""
    if budget.limited and time.monotonic() + NOTEBOOK_SECONDS > budget.deadline:
        _skip(budget, log, "Notebooks", f"writing them needs about {NOTEBOOK_SECONDS:g} s; the budget is used up")
        return False
    return True


def _no_winner(r: Finishing, n_candidates: int) -> None:
    with r.lock:
        reasons = sorted({c.failure_reason or "" for c in r.candidates})[:3]
    if n_candidates == 0:
        reason = (
            f"the time budget of {r.total_runtime} s ended before any candidate "
            "could start and still leave time for its refit; raise total_job_runtime_in_seconds"
        )
    else:
        reason = f"no candidate completed ({n_candidates} failed: {'; '.join(reasons)})"
    raise NoWinnerError(r.job_name, reason)


def _ensemble(r: Finishing, ranked: list[Candidate]) -> Candidate | None:
    """Select an ensemble among the best candidates whose refits fit the budget; None if not better."""
    b, best = r.budget, ranked[0]
    full = ranked[:ENSEMBLE_POOL]
    pool = b.affordable_pool(full, ENSEMBLE_POOL)
    if len(pool) < 2:
        need = b.selection_seconds(full[:2]) + b.ensemble_seconds(full[:2])
        _skip(
            b,
            r.log,
            "Ensemble",
            f"selecting and refitting the two best candidates needs about {need:.1f} s, "
            f"{_left(r):.1f} s were left",
        )
        return None
    if len(pool) < len(full):
        _skip(
            b,
            r.log,
            "EnsemblePool",
            f"the ensemble chose among the {len(pool)} best candidates instead of "
            f"{len(full)}: refitting more would not fit the time left ({_left(r):.1f} s)",
        )
    y = r.y_valid
    preds = {c.name: r.predictions[c.name] for c in pool}
    classes = None if r.classes is None else np.asarray(r.classes)
    weights, score = select_ensemble(preds, y, r.objective, classes)
    assert best.objective_value is not None
    if len(weights) < 2 or not r.objective.better(score, best.objective_value):
        r.log(f"ensemble not better than {best.name} ({score:.5g}); keeping the single best")
        return None
    now = datetime.now(timezone.utc)
    members = {c.name: weights[c.name] for c in pool if c.name in weights}
    ens = Candidate(
        name=f"{r.job_name}-ensemble",
        number=-1,
        spec={"algorithm": "weighted_ensemble", "members": members},
        status="Completed",
        objective_value=score,
        creation_time=now,
        end_time=now,
        fit_seconds=sum(c.fit_seconds for c in pool if c.name in members),
        members=members,
    )
    r.add_candidate(ens)
    return ens


def _build_ensemble(r: Finishing, ens: Candidate, best: Candidate) -> Candidate:
    """Refit the members (the best first) and save the ensemble; the best alone if that fails."""
    assert ens.members is not None
    by_name = {c.name: c for c in r.candidates}
    members = sorted((by_name[n] for n in ens.members), key=lambda c: c is not best)
    for m in members:
        if m.model_path is not None:
            continue
        need = refit_seconds(m, r.budget.scale)
        if not r.budget.fits(need):
            return _drop_ensemble(
                r, ens, f"refitting member {m.name} needs about {need:.1f} s, {_left(r):.1f} s were left"
            )
        try:
            r.models.refit(m, timeout=_refit_timeout(r, fallback=True), cancel=r.cancel)
        except CandidateFailure as e:
            if e.stopped:
                raise
            if e.timed_out:
                return _drop_ensemble(r, ens, f"the refit of member {m.name} was stopped: {e.reason}")
            r.log(f"ensemble dropped, a member's refit failed: {e.reason}")
            with r.lock:
                ens.status, ens.failure_reason = "Failed", f"refit of a member failed: {e.reason}"
            return best
    r.models.save_ensemble(ens, r.candidates)
    return ens


def _drop_ensemble(r: Finishing, ens: Candidate, reason: str) -> Candidate:
    _skip(r.budget, r.log, "Ensemble", reason)
    with r.lock:
        ens.status = "Stopped"
        ens.failure_reason = f"not built, to stay within the job's time budget: {reason}"
    best = r.budget.ranked(r.candidates)[0]
    return best


def _refit_best(r: Finishing, best: Candidate) -> None:
    if best.model_path is not None:
        return
    fallback = best.search_model_path is not None and os.path.exists(best.search_model_path)
    need = refit_seconds(best, r.budget.scale)
    if fallback and not r.budget.fits(need / SAFETY):  # with a fallback, a try without the margin
        _use_search_model(
            r, best, f"refitting it on all rows needs about {need:.1f} s, {_left(r):.1f} s were left"
        )
        return
    try:
        r.models.refit(best, timeout=_refit_timeout(r, fallback), cancel=r.cancel)
    except CandidateFailure as e:
        if e.stopped:
            raise
        if e.timed_out and fallback:
            _use_search_model(r, best, f"its refit on all rows was stopped: {e.reason}")
            return
        raise AutoMLJobError(f"refitting the best candidate {best.name!r} failed: {e.reason}") from e


def _use_search_model(r: Finishing, cand: Candidate, reason: str) -> None:
    """Save the model ``cand`` fitted during the search (last fold's training part) as its model."""
    assert cand.search_model_path is not None
    n_train = int(np.sum(r.fold_ids != r.fold_ids.max()))
    _skip(
        r.budget,
        r.log,
        "Refit",
        f"{cand.name}: {reason}; its model is the one fitted during the search on "
        f"{n_train} of {len(r.fold_ids)} rows",
    )
    r.models.adopt_search_model(cand)
