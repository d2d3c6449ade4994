"""The trial API: query a trial store, also while training writes it (smdebug's names).

``create_trial(path)`` returns a :class:`Trial`; ``trial.tensor(name)`` a :class:`Tensor`.
Steps are global steps unless a ``mode`` is given, then the mode's own step numbers.
A step is *complete* when every worker has passed it or training has ended; queries about an
incomplete step raise :class:`StepNotYetAvailable`, about a step that was never saved
:class:`StepUnavailable` (or :class:`NoMoreData` past the end of training).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np

from smdbg._optional import require
from smdbg.collections import Collection, compile_regex
from smdbg.exceptions import (
    NoMoreData,
    NoTrialFound,
    StepNotYetAvailable,
    StepUnavailable,
    TensorUnavailable,
)
from smdbg.modes import ModeKeys, ModeLike
from smdbg.trial._live import LiveTrial, WorkerState
from smdbg.trial._rules import RuleStatusDoc, read_rule_statuses
from smdbg.trial._source import MODE_NAMES, Array, TrialSource, mode_code, open_source
from smdbg.trial._tensor import Tensor

__all__ = ["create_trial", "Trial"]


def create_trial(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    timeout: float = 10.0,
    on_corrupt: str = "warn",
    refresh_interval: float = 0.2,
    storage_options: Mapping[str, Any] | None = None,
) -> Trial:
    """Open the trial at a local path or URL (``s3://...``), waiting up to ``timeout`` seconds
    for it to appear; raises :class:`NoTrialFound` naming the path after that."""
    source = open_source(path, on_corrupt=on_corrupt, storage_options=storage_options)
    deadline = time.monotonic() + timeout
    while not source.exists():
        if time.monotonic() >= deadline:
            raise NoTrialFound(source.url(), timeout)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return Trial(source, name=name, refresh_interval=refresh_interval)


class Trial:
    """A trial being read, through a :class:`~smdbg.trial.TrialSource`. Refreshes itself (at most
    every ``refresh_interval`` s) until training ends."""

    def __init__(self, source: TrialSource, name: str | None = None, refresh_interval: float = 0.2) -> None:
        self._live = LiveTrial(source, refresh_interval)
        self.path = source.url()
        self.name = name or self.path.rstrip("/").rsplit("/", 1)[-1]
        self.refresh(force=True)

    @property
    def source(self) -> TrialSource:
        """The read interface this trial reads through (and writes rule documents through)."""
        return self._live.source

    @property
    def refresh_interval(self) -> float:
        return self._live.refresh_interval

    @refresh_interval.setter
    def refresh_interval(self, seconds: float) -> None:
        self._live.refresh_interval = seconds

    # -- refreshing and real time -------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Pick up new segments (cheap when nothing changed; a no-op after training ended)."""
        self._live.refresh(force)

    def training_has_ended(self) -> bool:
        """True once every worker closed its writer, or ended abnormally (see :meth:`end_reasons`)."""
        self.refresh()
        return self._live.ended()

    def end_reasons(self) -> dict[str, str]:
        """Workers whose training ended abnormally, with the reason: a write error at close, or
        a writer that died (SIGKILL, a lost host: its lease heartbeat went stale). {} otherwise."""
        self.refresh()
        return self.source.abnormal_ends()

    def last_complete_step(self, mode: ModeLike | None = None) -> int:
        """The highest step (global, or of ``mode``) that every worker has passed; -1 if none."""
        self.refresh()
        return self._live.last_complete(mode_code(mode))

    def worker_states(self) -> list[WorkerState]:
        """Each worker's latest progress marker (step, wall time) and whether it ended, read now."""
        self.refresh(force=True)
        return self._live.worker_states()

    def wait_for_steps(
        self, required_steps: Iterable[int], mode: ModeLike | None = None, timeout: float | None = None
    ) -> None:
        """Block until every step is complete; NoMoreData if training ended before one of them."""
        steps = sorted(int(s) for s in required_steps)
        if not steps:
            return
        live, mcode = self._live, mode_code(mode)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh(force=True)
            if live.ended():
                last = live.max_step(mcode)
                if steps[-1] > last:
                    raise NoMoreData(f"training ended at step {last}; step {steps[-1]} will never be saved")
                return
            if live.last_complete(mcode) >= steps[-1]:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise StepNotYetAvailable(steps[-1], mode)
            time.sleep(live.refresh_interval)

    # -- structure ----------------------------------------------------------------------------
    def steps(self, mode: ModeLike | None = None, show_incomplete_steps: bool = False) -> list[int]:
        """Saved steps (complete ones only, unless ``show_incomplete_steps``)."""
        self.refresh()
        mcode = mode_code(mode)
        steps = self.source.unique_steps(mcode)
        if not show_incomplete_steps:
            steps = steps[steps <= self._live.last_complete(mcode)]
        return cast(list[int], steps.tolist())

    def modes(self) -> list[ModeKeys]:
        self.refresh()
        return [ModeKeys[MODE_NAMES[i]] for i in self.source.modes_present()]

    def mode_modestep(self, global_step: int) -> tuple[ModeKeys, int]:
        c = self.source.cols
        idx = np.flatnonzero(c["step"] == global_step)
        if not len(idx):
            raise StepUnavailable(global_step, None)
        i = int(idx[0])
        return ModeKeys[MODE_NAMES[int(c["mode"][i])]], int(c["mode_step"][i])

    def global_step(self, mode: ModeLike | None, mode_step: int) -> int:
        c = self.source.cols
        mcode = mode_code(mode)
        if mcode is None:
            return int(mode_step)
        idx = np.flatnonzero((c["mode"] == mcode) & (c["mode_step"] == mode_step))
        if not len(idx):
            raise StepUnavailable(mode_step, mode)
        return int(c["step"][idx[0]])

    def workers(self) -> list[str]:
        self.refresh()
        return sorted(self.source.workers.names)

    def num_workers(self) -> int:
        return max(int(self.source.metadata.get("num_workers") or 0), len(self.workers()))

    @property
    def metadata(self) -> dict[str, Any]:
        self.refresh()
        return dict(self.source.metadata)

    @property
    def corrupt_segments(self) -> dict[str, str]:
        """Segments that could not be read (path -> reason); the rest of the trial is readable."""
        return dict(self.source.corrupt)

    def collections(self) -> dict[str, Collection]:
        self.refresh()
        src = self.source
        out = {n: Collection.from_dict(d) for n, d in (src.metadata.get("collections") or {}).items()}
        for tensor, names in src.tensor_collections.items():
            for n in names:
                out.setdefault(n, Collection(n)).add_tensor_name(tensor)
        return out

    def collection(self, name: str) -> Collection:
        colls = self.collections()
        if name not in colls:
            raise KeyError(f"no collection {name!r} in trial {self.path}; it has {sorted(colls)}")
        return colls[name]

    def tensor_names(self, regex: str | list[str] | None = None, collection: str | Collection | None = None,
                     step: int | None = None, mode: ModeLike | None = None) -> list[str]:  # fmt: skip
        self.refresh()
        src = self.source
        names = set(src.tensors.names)
        mcode = mode_code(mode)
        if step is not None:
            c = src.cols
            sel = (c["step"] == step) if mcode is None else (c["mode"] == mcode) & (c["mode_step"] == step)
            names = {src.tensors.names[i] for i in np.unique(c["tensor"][sel]).tolist()}
        elif mcode is not None:
            c = src.cols
            names = {src.tensors.names[i] for i in np.unique(c["tensor"][c["mode"] == mcode]).tolist()}
        if collection is not None:
            cname = collection.name if isinstance(collection, Collection) else collection
            coll = self.collections().get(cname)
            names = {
                n
                for n in names
                if coll is not None and (cname in src.tensor_collections.get(n, ()) or coll.matches(n))
            }
        if regex is not None:
            pats = [compile_regex(p, "tensor_names") for p in ([regex] if isinstance(regex, str) else regex)]
            names = {n for n in names if any(p.search(n) for p in pats)}
        return sorted(names)

    def has_tensor(self, name: str) -> bool:
        self.refresh()
        return self._stored_name(name) is not None

    def tensor(self, name: str) -> Tensor:
        """The tensor ``name``. smdebug's other spellings resolve to the stored name when only
        that exists: a TensorFlow-style ``<name>:<i>`` to ``<name>_output_<i>`` (the seed's
        ``'CrossEntropyLoss:0'``), a ``save_scalar`` name to ``scalar/<name>``."""
        self.refresh()
        stored = self._stored_name(name)
        if stored is None:
            self.refresh(force=True)
            stored = self._stored_name(name)
            if stored is None:
                raise TensorUnavailable(name)
        return Tensor(self._live, stored)

    def _stored_name(self, name: str) -> str | None:
        index = self.source.tensors.index
        if name in index:
            return name
        base, colon, output = name.rpartition(":")
        for alias in ((f"{base}_output_{output}",) if colon and output.isdigit() else ()) + (f"scalar/{name}",):
            if alias in index:
                return alias
        return None

    # -- tables -------------------------------------------------------------------------------
    def to_arrow(
        self, tensor_regex: str | None = None, reduction: str | None = None, mode: ModeLike | None = None
    ) -> Any:
        """A long table: step, mode, mode_step, worker, tensor, reduction, value (one row per saved value)."""
        import pyarrow as pa

        self.refresh()
        src = self.source
        c = src.cols
        sel = np.ones(len(c["step"]), dtype=bool)
        if tensor_regex is not None:
            pat = compile_regex(tensor_regex, "tensor_regex")
            ok = np.array([bool(pat.search(n)) for n in src.tensors.names], dtype=bool)
            sel &= ok[c["tensor"]] if len(ok) else False
        if reduction is not None:
            code = src.reductions.index.get(reduction)
            sel &= c["reduction"] == (-1 if code is None else code)
        mcode = mode_code(mode)
        if mcode is not None:
            sel &= c["mode"] == mcode
        idx = np.flatnonzero(sel)

        def strings(codes: Array, names: list[str]) -> Any:
            return pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32()), pa.array(names, pa.string())
            ).cast(pa.string())

        return pa.table({
            "step": pa.array(c["step"][idx]),
            "mode": strings(c["mode"][idx].astype(np.int32), list(MODE_NAMES)),
            "mode_step": pa.array(c["mode_step"][idx]),
            "worker": strings(c["worker"][idx], src.workers.names),
            "tensor": strings(c["tensor"][idx], src.tensors.names),
            "reduction": strings(c["reduction"][idx], src.reductions.names),
            "value": pa.array(c["value"][idx]),
        })  # fmt: skip

    def to_pandas(
        self, tensor_regex: str | None = None, reduction: str | None = None, mode: ModeLike | None = None
    ) -> Any:
        require("pandas", extra="query", feature="trial.to_pandas()")
        return self.to_arrow(tensor_regex=tensor_regex, reduction=reduction, mode=mode).to_pandas()

    def sql(self, query: str) -> Any:
        """Run SQL over the long table (as view ``trial``) with DuckDB; returns a pandas DataFrame."""
        duckdb = require("duckdb", extra="query", feature="trial.sql()")
        require("pandas", extra="query", feature="trial.sql()")  # fetch_df() returns a DataFrame
        con = duckdb.connect()
        con.register("trial", self.to_arrow())
        return con.execute(query).fetch_df()

    # -- what rule jobs leave in the trial (see smdbg.trial._rules) -----------------------------
    def stop_requested(self) -> dict[str, Any] | None:
        """The stop request a rule action wrote into the trial, or None."""
        return self.source.stop_request()

    def rule_statuses(self) -> dict[str, RuleStatusDoc]:
        """Status documents written by rule jobs, by rule name."""
        return read_rule_statuses(self.source)

    def __repr__(self) -> str:
        src = self.source
        return f"<smdbg Trial {self.name!r} at {self.path}: {len(src.tensors.names)} tensors, {src.nrows} values>"
