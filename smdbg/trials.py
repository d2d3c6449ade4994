"""The trial API: query a trial store, also while training writes it (smdebug's names).

``create_trial(path)`` returns a :class:`Trial`; ``trial.tensor(name)`` a :class:`Tensor`.
Steps are global steps unless a ``mode`` is given, then the mode's own step numbers.
A step is *complete* when every worker has passed it or training has ended; queries about an
incomplete step raise :class:`StepNotYetAvailable`, about a step that was never saved
:class:`StepUnavailable` (or :class:`NoMoreData` past the end of training).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from smdbg._optional import require
from smdbg._tensor import Tensor, _mode_code
from smdbg.collections import Collection, compile_regex
from smdbg.exceptions import (
    NoMoreData,
    NoTrialFound,
    StepNotYetAvailable,
    StepUnavailable,
    TensorUnavailable,
)
from smdbg.modes import ModeKeys
from smdbg.store.format import CONTROL_DIR, RULES_DIR, STOP_FILE
from smdbg.store.reader import MODE_NAMES, TrialReader

__all__ = ["create_trial", "Trial", "Tensor"]


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
    reader = TrialReader(path, on_corrupt=on_corrupt, storage_options=storage_options)
    deadline = time.monotonic() + timeout
    while not reader.exists():
        if time.monotonic() >= deadline:
            raise NoTrialFound(reader.fs.url(), timeout)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return Trial(reader, name=name, refresh_interval=refresh_interval)


class Trial:
    """A trial being read. Refreshes itself (at most every ``refresh_interval`` s) until training ends."""

    def __init__(self, reader: TrialReader, name: str | None = None, refresh_interval: float = 0.2) -> None:
        self._r = reader
        self.path = reader.fs.url()
        self.name = name or self.path.rstrip("/").rsplit("/", 1)[-1]
        self.refresh_interval = refresh_interval
        self._last_refresh = -1e9
        self.refresh(force=True)

    # -- refreshing and real time -------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Pick up new segments (cheap when nothing changed; a no-op after training ended)."""
        now = time.monotonic()
        if not force and (self._ended_cached or now - self._last_refresh < self.refresh_interval):
            return
        self._r.refresh()
        self._last_refresh = time.monotonic()

    @property
    def _ended_cached(self) -> bool:
        return self._ended_now()

    def _ended_now(self) -> bool:
        r = self._r
        expected = int(r.metadata.get("num_workers") or 0) or len(r.worker_dirs)
        return bool(r.worker_dirs) and len(r.ended) >= max(expected, 1) and len(r.ended) >= len(r.worker_dirs)

    def training_has_ended(self) -> bool:
        self.refresh()
        return self._ended_now()

    def last_complete_step(self, mode: Any = None) -> int:
        """The highest step (global, or of ``mode``) that every worker has passed; -1 if none."""
        self.refresh()
        return self._last_complete(_mode_code(mode))

    def _last_complete(self, mcode: int | None) -> int:
        r = self._r
        if self._ended_now():
            return 2**62
        expected = max(int(r.metadata.get("num_workers") or 0), len(r.worker_dirs), 1)
        active = [w for w in r.worker_dirs if w not in r.ended]
        if len(r.worker_dirs) < expected:
            return -1
        passed = []
        for w in active:
            p = r.progress.get(w)
            if p is None:
                return -1
            passed.append(
                int(p.get("step", -1))
                if mcode is None
                else int(p.get("mode_steps", {}).get(MODE_NAMES[mcode], 0))
            )
        return min(passed) - 1 if passed else 2**62

    def wait_for_steps(
        self, required_steps: Iterable[int], mode: Any = None, timeout: float | None = None
    ) -> None:
        """Block until every step is complete; NoMoreData if training ended before one of them."""
        steps = sorted(int(s) for s in required_steps)
        if not steps:
            return
        mcode = _mode_code(mode)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh(force=True)
            if self._ended_now():
                last = self._max_step(mcode)
                if steps[-1] > last:
                    raise NoMoreData(f"training ended at step {last}; step {steps[-1]} will never be saved")
                return
            if self._last_complete(mcode) >= steps[-1]:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise StepNotYetAvailable(steps[-1], mode)
            time.sleep(self.refresh_interval)

    def _max_step(self, mcode: int | None) -> int:
        steps = self._r.unique_steps(mcode)
        return int(steps[-1]) if len(steps) else -1

    # -- structure ----------------------------------------------------------------------------
    def steps(self, mode: Any = None, show_incomplete_steps: bool = False) -> list[int]:
        """Saved steps (complete ones only, unless ``show_incomplete_steps``)."""
        self.refresh()
        mcode = _mode_code(mode)
        steps = self._r.unique_steps(mcode)
        if not show_incomplete_steps:
            steps = steps[steps <= self._last_complete(mcode)]
        return steps.tolist()

    def modes(self) -> list[ModeKeys]:
        self.refresh()
        return [ModeKeys[MODE_NAMES[i]] for i in self._r.modes_present()]

    def mode_modestep(self, global_step: int) -> tuple[ModeKeys, int]:
        c = self._r.cols
        idx = np.flatnonzero(c["step"] == global_step)
        if not len(idx):
            raise StepUnavailable(global_step, None)
        i = int(idx[0])
        return ModeKeys[MODE_NAMES[int(c["mode"][i])]], int(c["mode_step"][i])

    def global_step(self, mode: Any, mode_step: int) -> int:
        c = self._r.cols
        mcode = _mode_code(mode)
        if mcode is None:
            return int(mode_step)
        idx = np.flatnonzero((c["mode"] == mcode) & (c["mode_step"] == mode_step))
        if not len(idx):
            raise StepUnavailable(mode_step, mode)
        return int(c["step"][idx[0]])

    def workers(self) -> list[str]:
        self.refresh()
        return sorted(self._r.workers.names)

    def num_workers(self) -> int:
        return max(int(self._r.metadata.get("num_workers") or 0), len(self.workers()))

    @property
    def metadata(self) -> dict[str, Any]:
        self.refresh()
        return dict(self._r.metadata)

    @property
    def corrupt_segments(self) -> dict[str, str]:
        """Segments that could not be read (path -> reason); the rest of the trial is readable."""
        return dict(self._r.corrupt)

    def collections(self) -> dict[str, Collection]:
        self.refresh()
        out = {n: Collection.from_dict(d) for n, d in (self._r.metadata.get("collections") or {}).items()}
        for tensor, names in self._r.tensor_collections.items():
            for n in names:
                out.setdefault(n, Collection(n)).add_tensor_name(tensor)
        return out

    def collection(self, name: str) -> Collection:
        colls = self.collections()
        if name not in colls:
            raise KeyError(f"no collection {name!r} in trial {self.path}; it has {sorted(colls)}")
        return colls[name]

    def tensor_names(self, regex: str | list[str] | None = None, collection: str | Collection | None = None,
                     step: int | None = None, mode: Any = None) -> list[str]:  # fmt: skip
        self.refresh()
        r = self._r
        names = set(r.tensors.names)
        if step is not None:
            c = r.cols
            mcode = _mode_code(mode)
            sel = (c["step"] == step) if mcode is None else (c["mode"] == mcode) & (c["mode_step"] == step)
            names = {r.tensors.names[i] for i in np.unique(c["tensor"][sel]).tolist()}
        elif mode is not None and _mode_code(mode) is not None:
            c = r.cols
            names = {
                r.tensors.names[i] for i in np.unique(c["tensor"][c["mode"] == _mode_code(mode)]).tolist()
            }
        if collection is not None:
            cname = collection.name if isinstance(collection, Collection) else collection
            coll = self.collections().get(cname)
            names = {
                n
                for n in names
                if coll is not None and (cname in r.tensor_collections.get(n, ()) or coll.matches(n))
            }
        if regex is not None:
            pats = [compile_regex(p, "tensor_names") for p in ([regex] if isinstance(regex, str) else regex)]
            names = {n for n in names if any(p.search(n) for p in pats)}
        return sorted(names)

    def has_tensor(self, name: str) -> bool:
        self.refresh()
        return name in self._r.tensors.index

    def tensor(self, name: str) -> Tensor:
        self.refresh()
        if name not in self._r.tensors.index:
            self.refresh(force=True)
            if name not in self._r.tensors.index:
                raise TensorUnavailable(name)
        return Tensor(self, name)

    # -- tables -------------------------------------------------------------------------------
    def to_arrow(
        self, tensor_regex: str | None = None, reduction: str | None = None, mode: Any = None
    ) -> Any:
        """A long table: step, mode, mode_step, worker, tensor, reduction, value (one row per saved value)."""
        import pyarrow as pa

        self.refresh()
        r = self._r
        c = r.cols
        sel = np.ones(len(c["step"]), dtype=bool)
        if tensor_regex is not None:
            pat = compile_regex(tensor_regex, "tensor_regex")
            ok = np.array([bool(pat.search(n)) for n in r.tensors.names], dtype=bool)
            sel &= ok[c["tensor"]] if len(ok) else False
        if reduction is not None:
            code = r.reductions.index.get(reduction)
            sel &= c["reduction"] == (-1 if code is None else code)
        mcode = _mode_code(mode)
        if mcode is not None:
            sel &= c["mode"] == mcode
        idx = np.flatnonzero(sel)

        def strings(codes: np.ndarray, names: list[str]) -> Any:
            return pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32()), pa.array(names, pa.string())
            ).cast(pa.string())

        return pa.table({
            "step": pa.array(c["step"][idx]),
            "mode": strings(c["mode"][idx].astype(np.int32), list(MODE_NAMES)),
            "mode_step": pa.array(c["mode_step"][idx]),
            "worker": strings(c["worker"][idx], r.workers.names),
            "tensor": strings(c["tensor"][idx], r.tensors.names),
            "reduction": strings(c["reduction"][idx], r.reductions.names),
            "value": pa.array(c["value"][idx]),
        })  # fmt: skip

    def to_pandas(
        self, tensor_regex: str | None = None, reduction: str | None = None, mode: Any = None
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

    # -- control files (rule jobs and actions) -------------------------------------------------
    def stop_requested(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._r.fs.read_bytes(f"{CONTROL_DIR}/{STOP_FILE}")))
        except FileNotFoundError:
            return None

    def rule_statuses(self) -> dict[str, dict[str, Any]]:
        """Status documents written by rule jobs, by rule name."""
        out = {}
        for rule in sorted(self._r.fs.list_dir(RULES_DIR)):
            try:
                out[rule] = json.loads(self._r.fs.read_bytes(f"{RULES_DIR}/{rule}/status.json"))
            except (FileNotFoundError, ValueError):
                continue
        return out

    def __repr__(self) -> str:
        return f"<smdbg Trial {self.name!r} at {self.path}: {len(self._r.tensors.names)} tensors, {self._r.nrows} values>"
