"""One tensor of a trial: values, reductions and vectorised histories (smdebug's names)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from smdbg.exceptions import (
    NoMoreData,
    StepNotYetAvailable,
    StepUnavailable,
    TensorUnavailableForStep,
)
from smdbg.modes import ModeKeys, parse_mode
from smdbg.reductions import compute_reduction, reduction_key, split_reduction_key
from smdbg.store.format import RAW
from smdbg.store.reader import MODE_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from smdbg.trials import Trial

__all__ = ["Tensor"]


def _mode_code(mode: Any) -> int | None:
    """None for global step numbering, else the index of the mode in MODE_NAMES."""
    if mode is None:
        return None
    m = parse_mode(mode)
    return None if m is ModeKeys.GLOBAL else MODE_NAMES.index(m.name)


class Tensor:
    """One tensor of a trial."""

    def __init__(self, trial: Trial, name: str) -> None:
        self.trial = trial
        self.name = name

    def _cols(self) -> dict[str, np.ndarray]:
        self.trial.refresh()
        return self.trial._r.tensor_cols(self.name)

    def _select(
        self, mode: Any, worker: str | None, reduction: str | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(this tensor's columns, positions, steps) for a mode/worker/reduction, in write order."""
        r = self.trial._r
        tc = self._cols()
        mcode = _mode_code(mode)
        steps = tc["step"] if mcode is None else tc["mode_step"]
        sel = np.ones(len(steps), dtype=bool)
        if mcode is not None:
            sel &= tc["mode"] == mcode
        if worker is not None:
            code = r.workers.index.get(worker)
            sel &= tc["worker"] == (-1 if code is None else code)
        if reduction is not None:
            code = r.reductions.index.get(reduction)
            sel &= tc["reduction"] == (-1 if code is None else code)
        idx = np.flatnonzero(sel)
        return tc, idx, steps[idx]

    def steps(self, mode: Any = None, show_incomplete_steps: bool = False) -> list[int]:
        _, _, steps = self._select(mode, None, None)
        out = np.unique(steps)
        if not show_incomplete_steps:
            out = out[out <= self.trial._last_complete(_mode_code(mode))]
        return out.tolist()

    def workers(self, step: int, mode: Any = None) -> list[str]:
        tc, idx, steps = self._select(mode, None, None)
        codes = np.unique(tc["worker"][idx[steps == step]])
        return sorted(self.trial._r.workers.names[i] for i in codes.tolist())

    def _pos_at(
        self, step: int, mode: Any, worker: str | None, reduction: str
    ) -> tuple[dict[str, np.ndarray], int]:
        tc, idx, steps = self._select(mode, worker, reduction)
        hit = idx[steps == step]
        if len(hit):
            if worker is None and len(hit) > 1:  # several workers: the first by name
                names = self.trial._r.workers.names
                hit = hit[np.argsort([names[w] for w in tc["worker"][hit].tolist()], kind="stable")]
            return tc, int(hit[0])
        self._raise_missing(step, mode, worker, reduction)
        raise AssertionError("unreachable")

    def _raise_missing(self, step: int, mode: Any, worker: str | None, reduction: str) -> None:
        trial = self.trial
        mcode = _mode_code(mode)
        _, _, any_steps = self._select(mode, worker, None)
        if np.any(any_steps == step):
            where = f" on worker {worker!r}" if worker else ""
            raise TensorUnavailableForStep(self.name, step, mode, f"with reduction {reduction!r}{where}")
        if step > trial._last_complete(mcode):
            trial.refresh(force=True)
            if step > trial._last_complete(mcode):
                raise StepNotYetAvailable(step, mode)
        if trial._ended_now() and step > trial._max_step(mcode):
            raise NoMoreData(f"training ended at step {trial._max_step(mcode)}; step {step} was never saved")
        all_steps = trial._r.unique_steps(mcode)
        if np.any(all_steps == step):
            raise TensorUnavailableForStep(self.name, step, mode)
        raise StepUnavailable(step, mode)

    def value(self, step: int, mode: Any = None, worker: str | None = None) -> np.ndarray:
        """The raw tensor saved at ``step``."""
        tc, pos = self._pos_at(step, mode, worker, RAW)
        return self.trial._r.row_array(int(tc["row"][pos]))

    def values(self, mode: Any = None, worker: str | None = None) -> dict[int, np.ndarray]:
        tc, idx, steps = self._select(mode, worker, RAW)
        rows = tc["row"][idx]
        return {
            int(s): self.trial._r.row_array(int(r)) for s, r in sorted(zip(steps.tolist(), rows.tolist()))
        }

    def shape(self, step: int, mode: Any = None, worker: str | None = None) -> tuple[int, ...]:
        tc, idx, steps = self._select(mode, worker, None)
        hit = tc["row"][idx[steps == step]]
        if not len(hit):
            self._raise_missing(step, mode, worker, RAW)
        for row in hit.tolist():
            shape = self.trial._r.row_info(row)["shape"]
            if shape is not None:
                return tuple(shape)
        raise TensorUnavailableForStep(self.name, step, mode, "(no shape saved: use save_shape=True)")

    def reduction_value(self, step: int, reduction_name: str, mode: Any = None, worker: str | None = None,
                        abs: bool = False) -> float:  # noqa: A002 - smdebug's name  # fmt: skip
        """A reduction at ``step``: the saved one, else computed from the saved raw tensor."""
        key = reduction_key(reduction_name, abs)
        tc, idx, steps = self._select(mode, worker, key)
        hit = idx[steps == step]
        if len(hit):
            return float(tc["value"][int(hit[0])])
        raw = self.value(step, mode=mode, worker=worker)
        return compute_reduction(raw, reduction_name, abs)

    def reduction_values(
        self, step: int, mode: Any = None, worker: str | None = None
    ) -> dict[tuple[str, bool], float]:
        """Every reduction saved at ``step``, keyed ``(name, abs)``."""
        names = self.trial._r.reductions.names
        tc, idx, steps = self._select(mode, worker, None)
        hit = idx[steps == step]
        if not len(hit):
            self._raise_missing(step, mode, worker, RAW)
        out = {}
        for i in hit.tolist():
            key = names[int(tc["reduction"][i])]
            if key != RAW:
                out[split_reduction_key(key)] = float(tc["value"][i])
        return out

    def history(
        self, reduction: str | None = None, mode: Any = None, worker: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: (steps, values) of one reduction (e.g. ``"abs_max"``) over the whole run,
        sorted by step. ``reduction=None`` gives the values of raw scalars (losses, metrics).
        Falls back to computing the reduction from raw tensors when it was not saved."""
        key = RAW if reduction is None else reduction
        tc, idx, steps = self._select(mode, worker, key)
        if len(idx) or reduction is None:
            values = tc["value"][idx]
        else:
            name, is_abs = split_reduction_key(key)
            tc, idx, steps = self._select(mode, worker, RAW)
            values = np.array(
                [
                    compute_reduction(self.trial._r.row_array(int(r)), name, is_abs)
                    for r in tc["row"][idx].tolist()
                ]
            )
        order = np.argsort(steps, kind="stable")
        return steps[order], values[order]

    def history_rows(self, reduction: str | None = None, worker: str | None = None) -> dict[str, np.ndarray]:
        """Vectorised, for rules: every stored value of one reduction key (``None``: raw scalars)
        with its global ``step``, ``mode`` (names), ``mode_step``, ``worker`` (names) and
        ``wall_time``, sorted by global step. Nothing is computed from raw tensors here."""
        r = self.trial._r
        tc, idx, steps = self._select(None, worker, RAW if reduction is None else reduction)
        idx = idx[np.argsort(steps, kind="stable")]
        return {
            "step": tc["step"][idx],
            "mode": np.asarray(MODE_NAMES, dtype=object)[tc["mode"][idx].astype(np.int64)],
            "mode_step": tc["mode_step"][idx],
            "worker": np.asarray(r.workers.names + [""], dtype=object)[tc["worker"][idx]],
            "value": tc["value"][idx],
            "wall_time": tc["wall_time"][idx],
        }

    def reductions(self) -> list[str]:
        """The stored reduction keys of this tensor (``raw`` for raw tensors)."""
        r = self.trial._r
        return sorted({r.reductions.names[i] for i in np.unique(self._cols()["reduction"]).tolist()})

    def collections(self) -> set[str]:
        return set(self.trial._r.tensor_collections.get(self.name, ()))

    def __repr__(self) -> str:
        return f"<smdbg Tensor {self.name!r}>"
