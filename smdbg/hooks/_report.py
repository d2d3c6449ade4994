"""The bookkeeping of a hook's save report (:class:`smdbg.trial.SaveReport`): which tensors each
collection saved (tallied from the records handed to the sinks, on saved steps only), which the
collections asked for and were never saved, and why.

The framework-neutral reasons are here (a collection whose save config selected no step of the
run, a tensor name never recorded); a framework hook adds its own (a module never called, a
parameter without gradient ...) through :meth:`SaveTally.report`'s ``unsaved`` argument.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from smdbg.collections import Collection
from smdbg.config import SaveConfig
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks._sinks import StoreSink
from smdbg.modes import ModeKeys
from smdbg.trial._report import CollectionSaved, NotSaved, SaveReport

__all__ = ["SaveTally", "Asked", "ReportsSaves"]

log = logging.getLogger("smdbg.hooks")


class Asked:
    """Answers, for the report, "do the included collections ask for tensor X" and "did any of
    them have a save step in this run"."""

    def __init__(self, planner: SavePlanner, mode_steps: Mapping[ModeKeys, int], current: ModeKeys) -> None:
        self.planner = planner
        self.included = [c for c in planner.included]
        due = {}
        for name in self.included:
            due[name] = _had_save_step(planner, planner.collections.get(name), mode_steps, current)
        self.due = due

    def collections(self, name: str) -> tuple[str, ...]:
        """The included collections ``name`` belongs to ("all" only when it is included)."""
        return tuple(c for c in self.planner.members(name) if c in self.due)

    def reason(self, colls: Sequence[str]) -> str | None:
        """"save_config" when none of ``colls`` had a save step, else None."""
        return None if any(self.due[c] for c in colls) else "save_config"


def _had_save_step(planner: SavePlanner, coll: Collection, mode_steps: Mapping[ModeKeys, int], current: ModeKeys) -> bool:
    """Whether ``coll``'s save config selected one of the steps this run took (the step under
    way in the current mode included)."""
    for mode, taken in mode_steps.items():
        last = taken if mode is current else taken - 1
        if last < 0:
            continue
        cfg: SaveConfig = coll.save_config or planner.save_config
        if cfg.inherits(mode):
            cfg = planner.save_config
        nxt = cfg.next_save_step(mode, 0)
        if nxt is not None and nxt <= last:
            return True
    return False


class SaveTally:
    """What the hook handed to its sinks: per tensor its collections, per collection its steps."""

    def __init__(self) -> None:
        self.tensors: dict[str, tuple[str, ...]] = {}
        self.steps: dict[str, int] = {}
        self._last: dict[str, tuple[int, str]] = {}  # collection -> the last (step, mode) counted
        self.unsupported: dict[str, str] = {}  # tensor -> dtype the hook could not save

    def add(self, step: int, mode: str, records: Iterable[Any]) -> None:
        """Count one batch of records (called on saved steps only)."""
        names = {r.tensor: r.collections for r in records}
        colls: set[str] = set()
        tensors = self.tensors
        for name, cs in names.items():
            if name not in tensors:
                tensors[name] = cs
            colls.update(cs)
        key = (step, mode)
        for c in colls:
            if self._last.get(c) != key:
                self._last[c] = key
                self.steps[c] = self.steps.get(c, 0) + 1

    def report(self, worker: str, framework: str, steps: int, asked: Asked, mode_steps: Mapping[ModeKeys, int],
               unsaved: Iterable[NotSaved] = ()) -> SaveReport:  # fmt: skip
        """The report: the framework's ``unsaved`` entries, then every explicit tensor name of an
        included collection that was not saved and is not among them."""
        per_coll: dict[str, set[str]] = {c: set() for c in asked.included}
        for name, cs in self.tensors.items():
            for c in cs:
                if c in per_coll or c == "scalars":
                    per_coll.setdefault(c, set()).add(name)
        missing = {n.tensor: n for n in unsaved if n.tensor not in self.tensors}
        for cname in asked.included:
            for name in sorted(asked.planner.collections.get(cname).tensor_names):
                if name in self.tensors or name in missing:
                    continue
                colls = asked.collections(name)
                missing[name] = NotSaved(name, colls, asked.reason(colls) or "not_recorded")
        for name, dtype in self.unsupported.items():
            if name not in self.tensors:
                missing[name] = NotSaved(name, asked.collections(name), "dtype", dtype)
        collections = {}
        listed = {c for n in missing.values() for c in n.collections}
        for cname, names in per_coll.items():
            reason = "" if asked.due.get(cname, True) else "save_config"
            if not names and not reason:
                reason = "listed" if cname in listed else "nothing_matched"
            collections[cname] = CollectionSaved(len(names), self.steps.get(cname, 0), reason)
        return SaveReport(
            worker=worker, framework=framework, steps=steps,
            mode_steps={m.name: n for m, n in mode_steps.items() if n},
            collections=collections, not_saved=tuple(sorted(missing.values(), key=lambda n: n.tensor)),
        )  # fmt: skip


class ReportsSaves:
    """The hook's save-report calls (a mixin of :class:`~smdbg.hooks.base.BaseHook`, which
    provides what is declared here); a framework hook adds its reasons in :meth:`_unsaved`."""

    framework: ClassVar[str]
    planner: SavePlanner
    mode: ModeKeys
    step: int
    rank: int
    _tally: SaveTally
    _store: StoreSink | None

    if TYPE_CHECKING:  # declarations only (the hook's own come first in the MRO)

        @property
        def mode_steps(self) -> dict[ModeKeys, int]: ...

        def _report_error(self, where: str, error: BaseException) -> None: ...

    def save_report(self) -> SaveReport:
        """What was saved so far per included collection, and what the collections ask for that
        was not saved, with the reason (``close()`` writes it into the trial and logs it)."""
        asked = Asked(self.planner, self.mode_steps, self.mode)
        unsaved = self._unsaved(asked, self._tally.tensors)
        return self._tally.report(f"worker_{self.rank}", self.framework, self.step, asked, self.mode_steps, unsaved)

    def _unsaved(self, asked: Asked, saved: Mapping[str, Any]) -> Iterable[NotSaved]:
        """Framework hooks: what they know was asked for and not saved, with the reason."""
        return ()

    def _write_save_report(self) -> None:
        """At close: the report into the trial (``events/<worker>/save_report.json``), and logged."""
        try:
            report = self.save_report()
            assert self._store is not None
            self._store.write_save_report(report.to_json())
        except Exception as e:  # the report never costs the trial its end marker
            self._report_error("save report", e)
            return
        lines = report.lines()
        (log.warning if report.not_saved else log.info)("smdbg: %s", "\n".join(lines))
