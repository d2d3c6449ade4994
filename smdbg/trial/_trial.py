"""The trial API: query a trial store, also while training writes it (smdebug's names).

``create_trial(path)`` returns a :class:`Trial`; ``trial.tensor(name)`` a :class:`Tensor`.
Steps are global steps unless a ``mode`` is given, then the mode's own step numbers.
A step is *complete* when every worker has passed it or training has ended; queries about an
incomplete step raise :class:`StepNotYetAvailable`, about a step that was never saved
:class:`StepUnavailable` (or :class:`NoMoreData` past the end of training).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import Any, cast

import numpy as np

from smdbg._optional import require
from smdbg.collections import Collection, compile_regex
from smdbg.exceptions import NoMoreData, StepNotYetAvailable, TensorUnavailable
from smdbg.modes import ModeKeys, ModeLike
from smdbg.trial._live import LiveTrial, StepState, WorkerState
from smdbg.trial._report import SaveReport, read_save_reports
from smdbg.trial._rules import RuleStatusDoc, read_rule_statuses
from smdbg.trial._source import MODE_NAMES, Array, TrialSource, mode_code
from smdbg.trial._tensor import Tensor

__all__ = ["Trial"]

log = logging.getLogger("smdbg.trial")

#: A TensorFlow-style name (``CrossEntropyLoss:0``) for what a PyTorch or MXNet hook saves as
#: ``CrossEntropyLoss_output_0``: :meth:`Trial.tensor` resolves one to the other.
_OUTPUT_ALIAS = re.compile(r"^(?P<base>.+):(?P<index>\d+)$")


class Trial:
    """A trial being read, through a :class:`~smdbg.trial.TrialSource`. Refreshes itself (at most
    every ``refresh_interval`` s) until training ends."""

    def __init__(self, source: TrialSource, name: str | None = None, refresh_interval: float = 0.2) -> None:
        self._live = LiveTrial(source, refresh_interval)
        self._made: dict[str, Collection] = {}
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

    @property
    def dynamic_refresh(self) -> bool:
        """smdebug's switch: False inside ``no_refresh(trial)``, where queries answer from what
        was loaded (``refresh()``, ``wait_for_steps`` and rule jobs following the trial still read)."""
        return self._live.dynamic_refresh

    @dynamic_refresh.setter
    def dynamic_refresh(self, on: bool) -> None:
        self._live.dynamic_refresh = bool(on)

    # -- refreshing and real time -------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Pick up new segments (cheap when nothing changed; a no-op after training ended).
        Writers of this trial in this process publish what they were handed first."""
        self._live.refresh(force)

    def has_passed_step(self, step: int, mode: ModeLike | None = None) -> StepState:
        """smdebug's: ``StepState.AVAILABLE`` (saved and complete), ``NOT_YET_AVAILABLE`` (not
        complete: it may still be saved) or ``UNAVAILABLE`` (complete and not saved, or after the
        end of training). Refreshes first when the step is not complete yet."""
        return self._live.step_state(int(step), mode)

    def training_has_ended(self) -> bool:
        """True once every worker closed its writer, or ended abnormally (see :meth:`end_reasons`)."""
        self._live.maybe_refresh()
        return self._live.ended()

    def end_reasons(self) -> dict[str, str]:
        """Workers whose training ended abnormally, with the reason: a write error at close, or
        a writer that died (SIGKILL, a lost host: its lease heartbeat went stale). {} otherwise."""
        self._live.maybe_refresh()
        return self.source.abnormal_ends()

    def last_complete_step(self, mode: ModeLike | None = None) -> int:
        """The highest step (global, or of ``mode``) that every worker has passed; -1 if none."""
        self._live.maybe_refresh()
        return self._live.last_complete(mode_code(mode))

    def worker_states(self) -> list[WorkerState]:
        """Each worker's latest progress marker (step, wall time) and whether it ended, read now."""
        self._live.maybe_refresh(force=True)
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
        self._live.maybe_refresh()
        mcode = mode_code(mode)
        steps = self.source.unique_steps(mcode)
        if not show_incomplete_steps:
            steps = steps[steps <= self._live.last_complete(mcode)]
        return cast(list[int], steps.tolist())

    def modes(self) -> list[ModeKeys]:
        self._live.maybe_refresh()
        return [ModeKeys[MODE_NAMES[i]] for i in self.source.modes_present()]

    def mode_modestep(self, global_step: int) -> tuple[ModeKeys, int]:
        """The mode and mode step of a saved global step. Raises StepNotYetAvailable,
        StepUnavailable or NoMoreData when it was not saved (smdebug returns ``(None, None)``)."""
        step = int(global_step)
        for _ in range(2):
            c = self.source.cols
            idx = np.flatnonzero(c["step"] == step)
            if len(idx):
                i = int(idx[0])
                return ModeKeys[MODE_NAMES[int(c["mode"][i])]], int(c["mode_step"][i])
            if not self._live.settle(step, None):
                break
        raise self._live.step_error(step, None)

    def mode(self, global_step: int) -> ModeKeys:
        """smdebug's: the mode of a saved global step (errors as :meth:`mode_modestep`)."""
        return self.mode_modestep(global_step)[0]

    def mode_step(self, global_step: int) -> int:
        """smdebug's: the mode step of a saved global step (errors as :meth:`mode_modestep`)."""
        return self.mode_modestep(global_step)[1]

    def global_step(self, mode: ModeLike | None, mode_step: int) -> int:
        """The global step of ``mode_step`` of ``mode`` (itself for ``GLOBAL``)."""
        mcode = mode_code(mode)
        if mcode is None:
            return int(mode_step)
        for _ in range(2):
            c = self.source.cols
            idx = np.flatnonzero((c["mode"] == mcode) & (c["mode_step"] == mode_step))
            if len(idx):
                return int(c["step"][idx[0]])
            if not self._live.settle(int(mode_step), mode):
                break
        raise self._live.step_error(int(mode_step), mode)

    def workers(self) -> list[str]:
        self._live.maybe_refresh()
        return sorted(self.source.workers.names)

    def num_workers(self) -> int:
        return max(int(self.source.metadata.get("num_workers") or 0), len(self.workers()))

    @property
    def metadata(self) -> dict[str, Any]:
        self._live.maybe_refresh()
        return dict(self.source.metadata)

    @property
    def corrupt_segments(self) -> dict[str, str]:
        """Segments that could not be read (path -> reason); the rest of the trial is readable."""
        return dict(self.source.corrupt)

    def collections(self) -> dict[str, Collection]:
        """The trial's collections by name: as configured in the hook, with the tensors saved in
        them (and any empty one :meth:`collection` handed out for a name the trial lacks)."""
        self._live.maybe_refresh()
        src = self.source
        out = {n: Collection.from_dict(d) for n, d in (src.metadata.get("collections") or {}).items()}
        for tensor, names in src.tensor_collections.items():
            for n in names:
                out.setdefault(n, Collection(n)).add_tensor_name(tensor)
        for n, coll in self._made.items():
            out.setdefault(n, coll)
        return out

    def collection(self, name: str) -> Collection:
        """The collection ``name``. For a name the trial does not have, an empty collection (as
        smdebug's collection manager makes one), with a log line naming the ones it has."""
        colls = self.collections()
        if name not in colls:
            log.info("trial %s has no collection %r (it has %s); using an empty one", self.path, name, sorted(colls))
            colls[name] = self._made[name] = Collection(name)
        return colls[name]

    def tensor_names(self, *, step: int | None = None, mode: ModeLike | None = None,
                     regex: str | list[str] | None = None, collection: str | Collection | None = None) -> list[str]:  # fmt: skip
        """Names of the saved tensors, all or those saved at ``step`` (of ``mode``), of ``mode``,
        matching ``regex`` (a pattern or a list: any matches), or of ``collection`` (a name or a
        Collection). As in smdebug every argument is a keyword and only one of ``regex`` and
        ``collection`` may be given (ValueError); a ``collection`` of another type is a TypeError."""
        if regex is not None and collection is not None:
            raise ValueError(
                f"tensor_names(regex={regex!r}, collection={getattr(collection, 'name', collection)!r}): "
                "pass only one of regex and collection"
            )
        if collection is not None and not isinstance(collection, (str, Collection)):
            raise TypeError(
                f"tensor_names(collection={collection!r}): expected a collection name or a Collection, "
                f"got {type(collection).__name__}"
            )
        self._live.maybe_refresh()
        src = self.source
        mcode = mode_code(mode)
        if step is not None:
            self._live.settle(int(step), mode)
            c = src.cols
            sel = (c["step"] == step) if mcode is None else (c["mode"] == mcode) & (c["mode_step"] == step)
            names = {src.tensors.names[i] for i in np.unique(c["tensor"][sel]).tolist()}
        elif mcode is not None:
            c = src.cols
            names = {src.tensors.names[i] for i in np.unique(c["tensor"][c["mode"] == mcode]).tolist()}
        else:
            names = set(src.tensors.names)
        if collection is not None:
            cname = collection.name if isinstance(collection, Collection) else collection
            coll = self.collections().get(cname)
            names = {
                n
                for n in names
                if coll is not None and (cname in src.tensor_collections.get(n, ()) or coll.matches(n))
            }
        elif regex is not None:
            pats = [compile_regex(p, "tensor_names") for p in ([regex] if isinstance(regex, str) else regex)]
            names = {n for n in names if any(p.search(n) for p in pats)}
        if not names and (collection is not None or regex is not None):
            what = f"collection {getattr(collection, 'name', collection)!r}" if collection is not None else f"regex {regex!r}"
            log.info("trial %s: no saved tensor matches %s", self.path, what)
        return sorted(names)

    def _resolve(self, name: str, refresh: bool) -> str | None:
        """The stored name ``name`` stands for: itself, for ``X:i`` (smdebug's TensorFlow-style
        name of an output) the ``X_output_i`` a PyTorch or MXNet hook saved, for a ``save_scalar``
        name ``scalar/<name>``; None if unknown."""
        for attempt in range(2):
            index = self.source.tensors.index
            if name in index:
                return name
            m = _OUTPUT_ALIAS.match(name)
            if m is not None and (alias := f"{m['base']}_output_{m['index']}") in index:
                return alias
            if f"scalar/{name}" in index:  # a save_scalar name
                return f"scalar/{name}"
            if attempt or not refresh:
                return None
            self._live.maybe_refresh(force=True)
        return None

    def has_tensor(self, name: str) -> bool:
        """Whether a tensor of that name was saved (refreshing first if it is not known yet)."""
        self._live.maybe_refresh()
        return self._resolve(name, refresh=True) is not None

    def tensor(self, name: str) -> Tensor:
        """The saved tensor ``name`` (``X:0`` also finds a hook's ``X_output_0``, ``lr`` a
        ``save_scalar``'s ``scalar/lr``); raises
        TensorUnavailable when no tensor of that name was saved (after refreshing)."""
        self._live.maybe_refresh()
        stored = self._resolve(name, refresh=True)
        if stored is None:
            raise TensorUnavailable(name)
        return Tensor(self._live, stored)

    # -- tables -------------------------------------------------------------------------------
    def to_arrow(
        self, tensor_regex: str | None = None, reduction: str | None = None, mode: ModeLike | None = None
    ) -> Any:
        """A long table: step, mode, mode_step, worker, tensor, reduction, value (one row per saved value)."""
        import pyarrow as pa

        self._live.maybe_refresh()
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

    def save_reports(self) -> dict[str, SaveReport]:
        """Per worker directory, the save report its hook wrote at ``close()``: what each
        collection saved, and what was asked for but not saved, with the reason."""
        return read_save_reports(self.source)

    def __repr__(self) -> str:
        src = self.source
        return f"<smdbg Trial {self.name!r} at {self.path}: {len(src.tensors.names)} tensors, {src.nrows} values>"
