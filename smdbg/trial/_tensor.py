"""One tensor of a trial: values, reductions and vectorised histories (smdebug's names)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import cast

import numpy as np

from smdbg.exceptions import StepUnavailable, TensorUnavailableForStep
from smdbg.modes import ModeLike
from smdbg.reductions import HISTOGRAM, compute_reduction, reduction_key, split_reduction_key
from smdbg.trial._live import LiveTrial
from smdbg.trial._source import MODE_NAMES, RAW, Array, mode_code

__all__ = ["Tensor"]

_Cols = Mapping[str, Array]


class Tensor:
    """One tensor of a trial (from ``trial.tensor(name)``)."""

    def __init__(self, live: LiveTrial, name: str) -> None:
        self._live = live
        self.name = name

    def _cols(self) -> _Cols:
        self._live.maybe_refresh()
        return self._live.source.tensor_cols(self.name)

    def _select(
        self, mode: ModeLike | None, worker: str | None, reduction: str | None
    ) -> tuple[_Cols, Array, Array]:
        """(this tensor's columns, positions, steps) for a mode/worker/reduction, in write order."""
        src = self._live.source
        tc = self._cols()
        mcode = mode_code(mode)
        steps = tc["step"] if mcode is None else tc["mode_step"]
        sel = np.ones(len(steps), dtype=bool)
        if mcode is not None:
            sel &= tc["mode"] == mcode
        if worker is not None:
            code = src.workers.index.get(worker)
            sel &= tc["worker"] == (-1 if code is None else code)
        if reduction is not None:
            code = src.reductions.index.get(reduction)
            sel &= tc["reduction"] == (-1 if code is None else code)
        idx = np.flatnonzero(sel)
        return tc, idx, steps[idx]

    def steps(self, mode: ModeLike | None = None, show_incomplete_steps: bool = False) -> list[int]:
        _, _, steps = self._select(mode, None, None)
        out = np.unique(steps)
        if not show_incomplete_steps:
            out = out[out <= self._live.last_complete(mode_code(mode))]
        return cast(list[int], out.tolist())

    def prev_steps(self, step: int, n: int | None = None, mode: ModeLike | None = None) -> list[int]:
        """smdebug's: the last ``n`` complete steps of this tensor up to and including ``step``
        (all of them when ``n`` is None or 0), oldest first."""
        steps = self.steps(mode=mode)
        upto = steps[: bisect.bisect_right(steps, step)]
        return upto[-n:] if n else upto

    def workers(self, step: int, mode: ModeLike | None = None) -> list[str]:
        tc, idx, steps = self._at(step, mode, None, None)
        codes = np.unique(tc["worker"][idx[steps == step]])
        names = self._live.source.workers.names
        return sorted(names[i] for i in codes.tolist())

    def _at(
        self, step: int, mode: ModeLike | None, worker: str | None, reduction: str | None
    ) -> tuple[_Cols, Array, Array]:
        """:meth:`_select`, refreshed first when it has nothing at ``step`` and the step is not
        complete yet (the data may be published already: never answer from a stale view)."""
        got = self._select(mode, worker, reduction)
        if not np.any(got[2] == step) and self._live.settle(step, mode):
            got = self._select(mode, worker, reduction)
        return got

    def _pos_at(
        self, step: int, mode: ModeLike | None, worker: str | None, reduction: str
    ) -> tuple[_Cols, int]:
        tc, idx, steps = self._at(step, mode, worker, reduction)
        hit = idx[steps == step]
        if len(hit):
            if worker is None and len(hit) > 1:  # several workers: the first by name
                names = self._live.source.workers.names
                hit = hit[np.argsort([names[w] for w in tc["worker"][hit].tolist()], kind="stable")]
            return tc, int(hit[0])
        raise self._missing(step, mode, worker, reduction)

    def _missing(self, step: int, mode: ModeLike | None, worker: str | None, reduction: str) -> Exception:
        """The error for a value that is not there (the view is current: see :meth:`_at`): not
        this reduction or worker, not this tensor, not yet, past the end, or never."""
        live = self._live
        _, _, any_steps = self._select(mode, worker, None)
        if np.any(any_steps == step):
            where = f" on worker {worker!r}" if worker else ""
            return TensorUnavailableForStep(self.name, step, mode, f"with reduction {reduction!r}{where}")
        err = live.step_error(step, mode)
        if isinstance(err, StepUnavailable) and np.any(live.source.unique_steps(mode_code(mode)) == step):
            return TensorUnavailableForStep(self.name, step, mode)
        return err

    def value(self, step: int, mode: ModeLike | None = None, worker: str | None = None) -> Array:
        """The raw tensor saved at ``step``. A sharded tensor (a DTensor: FSDP2 ...) is put
        together from the blocks its workers saved; with ``worker=`` it is that worker's block."""
        tc, pos = self._pos_at(step, mode, worker, RAW)
        src = self._live.source
        row = int(tc["row"][pos])
        if worker is not None or src.row_info(row).get("shard") is None:
            return src.row_array(row)
        _, idx, steps = self._select(mode, None, RAW)
        return self._assemble(step, mode, [int(r) for r in tc["row"][idx[steps == step]].tolist()])

    def _assemble(self, step: int, mode: ModeLike | None, rows: list[int]) -> Array:
        """The whole tensor from the blocks in ``rows`` (each with its offset); an error naming
        what is missing when the blocks do not cover it (e.g. saved with include_workers="one")."""
        src = self._live.source
        full: Array | None = None
        covered: Array | None = None
        for row in rows:
            info = src.row_info(row)
            shard, block = info["shard"], src.row_array(row)
            if shard is None:  # a whole copy among the blocks
                return block
            if full is None:
                full = np.zeros(tuple(info["shape"]), dtype=block.dtype)
                covered = np.zeros(full.shape, dtype=bool)
            where = tuple(slice(o, o + n) for o, n in zip(shard[: block.ndim], block.shape))
            full[where] = block
            assert covered is not None
            covered[where] = True
        assert full is not None and covered is not None
        if not covered.all():
            workers = sorted({self._live.source.workers.names[w] for w in self._cols()["worker"].tolist()})
            raise TensorUnavailableForStep(
                self.name, step, mode,
                f"(sharded: the saved blocks of workers {workers} cover {int(covered.sum())} of {covered.size} "
                "elements; save raw shards with include_workers='all')",
            )  # fmt: skip
        return full

    def values(self, mode: ModeLike | None = None, worker: str | None = None) -> dict[int, Array]:
        tc, idx, steps = self._select(mode, worker, RAW)
        rows = tc["row"][idx]
        src = self._live.source
        if worker is None and len(rows) and src.row_info(int(rows[0])).get("shard") is not None:
            return {s: self.value(s, mode=mode) for s in sorted(set(steps.tolist()))}
        row_array = src.row_array
        return {int(s): row_array(int(r)) for s, r in sorted(zip(steps.tolist(), rows.tolist()))}

    def shape(self, step: int, mode: ModeLike | None = None, worker: str | None = None) -> tuple[int, ...]:
        tc, idx, steps = self._at(step, mode, worker, None)
        hit = tc["row"][idx[steps == step]]
        if not len(hit):
            raise self._missing(step, mode, worker, RAW)
        for row in hit.tolist():
            shape = self._live.source.row_info(row)["shape"]
            if shape is not None:
                return tuple(shape)
        raise TensorUnavailableForStep(self.name, step, mode, "(no shape saved: use save_shape=True)")

    def reduction_value(self, step: int, reduction_name: str, mode: ModeLike | None = None, worker: str | None = None,
                        abs: bool = False) -> float:  # noqa: A002 - smdebug's name  # fmt: skip
        """A reduction at ``step``: the saved one, else computed from the saved raw tensor."""
        key = reduction_key(reduction_name, abs)
        tc, idx, steps = self._at(step, mode, worker, key)
        hit = idx[steps == step]
        if len(hit):
            return float(tc["value"][int(hit[0])])
        raw = self.value(step, mode=mode, worker=worker)
        return compute_reduction(raw, reduction_name, abs)

    def reduction_values(
        self, step: int, mode: ModeLike | None = None, worker: str | None = None
    ) -> dict[tuple[str, bool], float]:
        """Every reduction saved at ``step``, keyed ``(name, abs)``."""
        names = self._live.source.reductions.names
        tc, idx, steps = self._at(step, mode, worker, None)
        hit = idx[steps == step]
        if not len(hit):
            raise self._missing(step, mode, worker, RAW)
        out = {}
        for i in hit.tolist():
            key = names[int(tc["reduction"][i])]
            if key != RAW and key != HISTOGRAM:
                out[split_reduction_key(key)] = float(tc["value"][i])
        return out

    def histogram(
        self, step: int, mode: ModeLike | None = None, worker: str | None = None
    ) -> tuple[Array, Array]:
        """The histogram saved at ``step`` (``ReductionConfig(histogram=bins)``): (bin edges,
        ``bins + 1`` float64; counts, ``bins`` int64). How many values were in no bin (NaN, inf,
        outside a fixed range) is the row's value: ``history("histogram")``."""
        tc, pos = self._pos_at(step, mode, worker, HISTOGRAM)
        return self._live.source.row_histogram(int(tc["row"][pos]))

    def histograms(
        self, mode: ModeLike | None = None, worker: str | None = None
    ) -> dict[int, tuple[Array, Array]]:
        """Every saved histogram, ``{step: (edges, counts)}`` in step order (the steps of
        ``mode`` when given; the first worker by name where several saved one at a step)."""
        tc, idx, steps = self._select(mode, worker, HISTOGRAM)
        names = self._live.source.workers.names
        order = sorted(range(len(idx)), key=lambda i: (int(steps[i]), names[int(tc["worker"][idx[i]])]))
        out: dict[int, tuple[Array, Array]] = {}
        row_histogram = self._live.source.row_histogram
        for i in order:
            out.setdefault(int(steps[i]), row_histogram(int(tc["row"][idx[i]])))
        return out

    def history(
        self, reduction: str | None = None, mode: ModeLike | None = None, worker: str | None = None
    ) -> tuple[Array, Array]:
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
            row_array = self._live.source.row_array
            values = np.array(
                [compute_reduction(row_array(int(r)), name, is_abs) for r in tc["row"][idx].tolist()]
            )
        order = np.argsort(steps, kind="stable")
        return steps[order], values[order]

    def history_rows(self, reduction: str | None = None, worker: str | None = None) -> dict[str, Array]:
        """Vectorised, for rules: every stored value of one reduction key (``None``: raw scalars)
        with its global ``step``, ``mode`` (names), ``mode_step``, ``worker`` (names) and
        ``wall_time``, sorted by global step. Nothing is computed from raw tensors here."""
        src = self._live.source
        tc, idx, steps = self._select(None, worker, RAW if reduction is None else reduction)
        idx = idx[np.argsort(steps, kind="stable")]
        return {
            "step": tc["step"][idx],
            "mode": np.asarray(MODE_NAMES, dtype=object)[tc["mode"][idx].astype(np.int64)],
            "mode_step": tc["mode_step"][idx],
            "worker": np.asarray([*src.workers.names, ""], dtype=object)[tc["worker"][idx]],
            "value": tc["value"][idx],
            "wall_time": tc["wall_time"][idx],
        }

    def reductions(self) -> list[str]:
        """The stored reduction keys of this tensor (``raw`` for raw tensors)."""
        names = self._live.source.reductions.names
        return sorted({names[i] for i in np.unique(self._cols()["reduction"]).tolist()})

    def collections(self) -> set[str]:
        return set(self._live.source.tensor_collections.get(self.name, ()))

    def __repr__(self) -> str:
        return f"<smdbg Tensor {self.name!r}>"
