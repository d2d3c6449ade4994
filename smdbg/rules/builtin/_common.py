"""Shared machinery of the built-in rules: tensor selection with helpful errors, whole-column
reads (one scan per tensor), raw-tensor reads for a step range, and per-tensor finding summaries."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from smdbg.reductions import compute_reduction, split_reduction_key
from smdbg.rules._base import Finding, Rule
from smdbg.rules._errors import RuleConfigError
from smdbg.trial import RAW, Trial

__all__ = ["BuiltinRule", "Column", "save_hint", "reduction_hint"]

Column = dict[str, np.ndarray]


def save_hint(rule: str, collections: Iterable[str]) -> str:
    colls = list(collections)
    return (
        f"save them with the hook (include_collections={colls!r}; with smdbg run: --collections "
        f"{','.join(colls)}) or configure the hook from Rule.builtin(rule_configs.{rule}()).collections_to_save"
    )


def reduction_hint(reduction: str) -> str:
    """How to save a missing reduction, in the API's and in ``smdbg run``'s words."""
    return (
        f"add {reduction!r} to the hook's ReductionConfig (with smdbg run: --reductions {reduction},...) "
        "or save raw tensors"
    )


def _empty_column() -> Column:
    return {
        "step": np.zeros(0, np.int64), "mode": np.zeros(0, object), "mode_step": np.zeros(0, np.int64),
        "worker": np.zeros(0, object), "value": np.zeros(0, np.float64), "wall_time": np.zeros(0, np.float64),
    }  # fmt: skip


def _slice(col: Column, mask: np.ndarray) -> Column:
    return {k: v[mask] for k, v in col.items()}


class BuiltinRule(Rule):
    """A vectorised rule: subclasses implement :meth:`findings` over a step range."""

    #: collections used when neither collection_names nor tensor_regex is given
    default_collections: tuple[str, ...] = ()
    #: called with a tensor's name each time the rule reads one (progress of long evaluations)
    on_read: Callable[[str], None] | None = None

    def evaluate(self, start_step: int = 0, end_step: int | None = None) -> list[Finding]:
        end = self.complete_end(end_step)
        if end <= start_step:
            return []
        out = self.findings(int(start_step), int(end))
        return sorted(out, key=lambda f: (f.step, f.tensor or ""))

    @abc.abstractmethod
    def findings(self, start: int, end: int) -> list[Finding]:
        """Findings at saved global steps in [start, end); ``end`` is already clipped to complete steps."""

    def check(self) -> None:
        self.tensors()

    # -- selecting tensors --------------------------------------------------------------------
    def select(self, trial: Trial, collection_names: Sequence[str] | None, tensor_regex: str | None,
               defaults: Sequence[str] = (), what: str = "tensors") -> list[str]:  # fmt: skip
        """Tensors of the given collections or matching the regex (union); the default
        collections when neither is given (all tensors when there are none)."""
        colls = list(collection_names or [])
        if not colls and not tensor_regex:
            colls = list(defaults)
            if not colls:
                everything = trial.tensor_names()
                if not everything:
                    raise RuleConfigError(
                        f"rule {self.rule_name}: the trial at {trial.path} has no tensors yet"
                    )
                return everything
        names: set[str] = set()
        available = sorted(c for c in trial.collections() if trial.tensor_names(collection=c))
        for c in colls:
            found = trial.tensor_names(collection=c)
            if not found and not tensor_regex:
                raise RuleConfigError(
                    f"rule {self.rule_name} needs {what} of collection {c!r}, but the trial at {trial.path} has "
                    f"none (it saved tensors of: {', '.join(available) or 'none'}); {save_hint(self.rule_name, colls)}"
                )
            names.update(found)
        if tensor_regex:
            found = trial.tensor_names(regex=tensor_regex)
            if not found and not names:
                sample = ", ".join(trial.tensor_names()[:8]) or "none"
                raise RuleConfigError(
                    f"rule {self.rule_name}: tensor_regex {tensor_regex!r} matches no tensor in the trial at "
                    f"{trial.path} (some of its tensors: {sample}); fix the regex or save the tensors it should match"
                )
            names.update(found)
        return sorted(names)

    def tensors(self) -> list[str]:
        """The tensors this rule looks at (from its collection_names/tensor_regex parameters)."""
        p = self.params
        return self.select(
            self.base_trial, p.get("collection_names"), p.get("tensor_regex"), self.default_collections
        )

    # -- reading ------------------------------------------------------------------------------
    def column(self, name: str, reduction: str | None, start: int = 0, end: int | None = None,
               trial: Trial | None = None) -> Column:  # fmt: skip
        """Rows of one reduction (``None``: raw scalars) of tensor ``name`` at global steps in
        [start, end), sorted by step: one vectorised read. A reduction that was not saved is
        computed from saved raw tensors; if neither is there, :class:`RuleConfigError`."""
        trial = trial or self.base_trial
        if self.on_read is not None:
            self.on_read(name)
        tensor = trial.tensor(name)
        col = tensor.history_rows(reduction)
        if reduction is not None and not len(col["step"]):
            stored = tensor.reductions()
            if RAW not in stored:
                raise RuleConfigError(
                    f"rule {self.rule_name} needs reduction {reduction!r} (or the raw tensor) of {name!r}, but the "
                    f"trial saved only {', '.join(stored) or 'nothing'} for it; {reduction_hint(reduction)}"
                )
            col = tensor.history_rows(None)
            col = _slice(col, self._range_mask(col, start, end))
            rname, is_abs = split_reduction_key(reduction)
            vals = [compute_reduction(tensor.value(int(s), worker=str(w)), rname, is_abs)
                    for s, w in zip(col["step"], col["worker"])]  # fmt: skip
            col["value"] = np.asarray(vals, dtype=np.float64)
            return col
        return _slice(col, self._range_mask(col, start, end))

    @staticmethod
    def _range_mask(col: Column, start: int, end: int | None) -> np.ndarray:
        s = col["step"]
        return (s >= start) & (s < end) if end is not None else s >= start

    def raw(self, name: str, start: int, end: int, trial: Trial | None = None,
            mode: str | None = None) -> list[tuple[int, str, np.ndarray]]:  # fmt: skip
        """(global step, worker, array) of raw tensor ``name`` at saved steps in [start, end)."""
        trial = trial or self.base_trial
        if self.on_read is not None:
            self.on_read(name)
        tensor = trial.tensor(name)
        col = tensor.history_rows(None)
        if not len(col["step"]) and tensor.reductions():
            raise RuleConfigError(
                f"rule {self.rule_name} needs the raw values of {name!r}, but the trial saved only the reductions "
                f"{', '.join(tensor.reductions())}; save raw tensors for it (ReductionConfig(save_raw_tensor=True))"
            )
        col = _slice(col, self._range_mask(col, start, end))
        if mode is not None:
            col = _slice(col, col["mode"] == mode)
        return [
            (int(s), str(w), tensor.value(int(s), worker=str(w))) for s, w in zip(col["step"], col["worker"])
        ]

    def first_hits(self, name: str, steps: np.ndarray, mask: np.ndarray, values: np.ndarray, message: str,
                   **extra: Any) -> list[Finding]:  # fmt: skip
        """One finding per tensor and evaluated range: at the first step where ``mask`` holds,
        with how many saved steps it held at and the last of them."""
        idx = np.flatnonzero(mask)
        if not len(idx):
            return []
        i = int(idx[0])
        step = int(steps[i])
        return [
            self.finding(step, message.format(name=name, step=step, value=float(values[i])), name,
                         value=float(values[i]), steps_affected=len(idx), last_step=int(steps[idx[-1]]), **extra)
        ]  # fmt: skip
