"""The job's time budget: how much to keep for the steps after the search, from the search's measurements.

``fit()`` must return within ``total_job_runtime_in_seconds`` (plus :func:`tolerance`). After the
search come the refit of the winner on every row (one child task per single candidate, one per
ensemble member), the ensemble's selection and saving, the ``best_model`` folder, the notebooks
and the job's records. Their cost is estimated from what each candidate measured during the
search: its fit time per fold (scaled to the refit's row count), the rest of its child task
(fork, data loading, prediction, saving), and the time one objective score took. Every estimate
is multiplied by :data:`SAFETY`.

Pure functions and one small class, no I/O: the runner asks, the budget answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._search import Candidate

__all__ = [
    "SAFETY",
    "ENSEMBLE_RESERVE_TOP",
    "FINISH_SECONDS",
    "NOTEBOOK_SECONDS",
    "MIN_CANDIDATE_SECONDS",
    "Budget",
    "tolerance",
    "refit_scale",
    "refit_seconds",
]

SAFETY = 1.5  # every measured cost is multiplied by this
TASK_SECONDS = 0.3  # a child task's fixed cost beyond what the search measured (fork, result file)
FINISH_SECONDS = 0.5  # leaderboard, job.json, tracker record, best_model folder
NOTEBOOK_SECONDS = 1.0  # writing the two notebooks (nbformat; nothing is executed)
ENSEMBLE_RESERVE_TOP = 3  # the search keeps time to refit this many of the best candidates
ENSEMBLE_ROUNDS = 25
MIN_CANDIDATE_SECONDS = 1.0  # no candidate starts with a shorter time limit


def tolerance(budget: float) -> float:
    """How far past its budget ``fit()`` may return: process start-up jitter and file writes."""
    return max(2.0, 0.05 * budget)


def refit_scale(fold_ids: np.ndarray) -> tuple[float, int]:
    """(rows of the refit / rows of the smallest training part of a fold, number of folds)."""
    n = len(fold_ids)
    folds = sorted(set(fold_ids[fold_ids >= 0].tolist()))
    smallest = min(int(np.sum(fold_ids != f)) for f in folds) if folds else n
    return n / max(smallest, 1), max(len(folds), 1)


def refit_seconds(c: Candidate, scale: float) -> float:
    """Estimated wall time of refitting ``c`` on every row in a child task (with the safety factor)."""
    if c.n_fits <= 0:
        return math.inf
    per_fit = c.fit_seconds / c.n_fits
    rest = max(c.wall_seconds - c.fit_seconds, 0.0)  # load, predict, save: an upper bound for the refit's
    return SAFETY * (per_fit * scale + rest) + TASK_SECONDS


def _save_seconds(members: Sequence[Candidate]) -> float:
    """Loading the members' saved pipelines and dumping them as one (bounded by their task overheads)."""
    return SAFETY * sum(2 * max(c.wall_seconds - c.fit_seconds, 0.0) / max(c.n_fits, 1) for c in members)


@dataclass
class Budget:
    """The deadline of one job and the estimates the search and the finishing steps plan with.

    ``deadline`` is a ``time.monotonic()`` value (``inf``: no time budget). ``skipped`` collects
    the steps left out to stay within the budget, as ``{"Step": ..., "Reason": ...}``.
    """

    deadline: float
    scale: float
    n_folds: int
    ensemble: bool
    notebooks: bool
    maximize: bool
    skipped: list[dict[str, str]] = field(default_factory=list)
    search_ended: float | None = None

    @property
    def limited(self) -> bool:
        return not math.isinf(self.deadline)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def finish_seconds(self) -> float:
        """The fixed cost after the refits: records, the best_model folder and the notebooks."""
        return FINISH_SECONDS + (NOTEBOOK_SECONDS if self.notebooks else 0.0)

    def refit_end(self) -> float:
        """The monotonic time by which every refit must be done."""
        return self.deadline - self.finish_seconds()

    def ranked(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        done = [c for c in candidates if c.status == "Completed" and c.members is None and c.n_fits]
        done.sort(key=lambda c: c.objective_value or 0.0, reverse=self.maximize)
        return done

    def selection_seconds(self, pool: Sequence[Candidate]) -> float:
        """Greedy ensemble selection scores every pool candidate in every round."""
        each = max((c.score_seconds for c in pool), default=0.0)
        return SAFETY * ENSEMBLE_ROUNDS * len(pool) * each

    def ensemble_seconds(self, members: Sequence[Candidate]) -> float:
        """Refitting the members that have no model yet, and saving them as one ensemble."""
        todo = [c for c in members if c.model_path is None]
        return sum(refit_seconds(c, self.scale) for c in todo) + _save_seconds(members)

    def reserve(self, candidates: Sequence[Candidate]) -> float:
        """Seconds to keep for everything after the search, given the candidates so far."""
        top = self.ranked(candidates)[: ENSEMBLE_RESERVE_TOP if self.ensemble else 1]
        out = self.finish_seconds()
        if not top:
            return out
        if self.ensemble and len(top) > 1:
            return out + self.selection_seconds(top) + self.ensemble_seconds(top)
        return out + refit_seconds(top[0], self.scale)

    def candidate_seconds(self, candidates: Sequence[Candidate]) -> float:
        """The time limit for a candidate starting now; <= 0 means: start no more candidates.

        The candidate must finish with enough time left for its own refit should it win: a
        refit costs about ``SAFETY * scale / n_folds`` times the candidate's cross-validation.
        A limit under :data:`MIN_CANDIDATE_SECONDS` is reported as 0 (too short to be useful).
        """
        if not self.limited:
            return math.inf
        free = self.left() - self.reserve(candidates)
        limit = free / (1.0 + SAFETY * self.scale / self.n_folds)
        return limit if limit >= MIN_CANDIDATE_SECONDS else 0.0

    def affordable_pool(self, ranked: Sequence[Candidate], size: int) -> list[Candidate]:
        """The longest prefix (best first, at most ``size``) whose selection and refits fit the time left."""
        if not self.limited:
            return list(ranked[:size])
        pool: list[Candidate] = []
        for c in ranked[:size]:
            trial = pool + [c]
            need = self.selection_seconds(trial) + self.ensemble_seconds(trial)
            if time.monotonic() + need > self.refit_end():
                break
            pool = trial
        return pool

    def fits(self, seconds: float) -> bool:
        return not self.limited or time.monotonic() + seconds <= self.refit_end()

    def skip(self, step: str, reason: str) -> None:
        self.skipped.append({"Step": step, "Reason": reason})

    def describe(self, budget: float | None) -> dict[str, Any]:
        return {
            "BudgetSeconds": budget,
            "ToleranceSeconds": None if budget is None else tolerance(budget),
            "SafetyFactor": SAFETY,
            "SkippedSteps": list(self.skipped),
        }
