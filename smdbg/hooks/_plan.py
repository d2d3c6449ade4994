"""Which tensors a hook saves at a step, and how: decided once per step, cached per tensor.

Pure bookkeeping over collections and configs; no framework imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smdbg.collections import Collection, CollectionManager
from smdbg.config import ReductionConfig, SaveConfig
from smdbg.modes import ModeKeys
from smdbg.reductions import HistogramRange

__all__ = ["TensorPlan", "SavePlanner", "SCALAR_COLLECTIONS"]

# Collections of scalars kept as values whatever the hook-level ReductionConfig says (as in
# smdebug): a loss reduced to mean/abs_max/l2 would leave rules such as loss_not_decreasing no
# loss to read. A collection's own reduction_config still applies.
SCALAR_COLLECTIONS = frozenset({"losses", "metrics", "scalars"})


@dataclass(frozen=True)
class TensorPlan:
    """What to save of one tensor at the current step."""

    collections: tuple[str, ...]
    reductions: tuple[str, ...]  # stored keys: "mean", "abs_max", "l2" ...
    raw: bool
    save_shape: bool
    histogram: tuple[int, HistogramRange] | None = None  # (bins, range) of a histogram to save


class SavePlanner:
    """Answers "is anything saved at this step?" and "what of tensor X?" cheaply.

    ``begin_step`` evaluates each included collection's save config once; ``plan(name)`` looks
    the tensor's plan up in a cache kept per set of active collections (so a step that saves the
    same collections as an earlier one reuses its plans); the caches are dropped only when a
    collection's patterns, names or configs change.
    """

    def __init__(
        self,
        collections: CollectionManager,
        included: list[str],
        save_config: SaveConfig,
        reduction_config: ReductionConfig | None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.collections = collections
        self.on_change = on_change  # called first when the collections changed (it may change them)
        self.included = included
        self.save_config = save_config
        self.reduction_config = reduction_config
        self.active: dict[str, Collection] = {}
        self.version = 0  # bumped whenever cached plans are dropped (collections changed)
        self._fingerprint: tuple[int, int, int] = (-1, -1, -1)
        self._members: dict[str, tuple[str, ...]] = {}
        self._plan_sets: dict[frozenset[str], dict[str, TensorPlan | None]] = {}
        self._plans: dict[str, TensorPlan | None] = {}
        self.active_key: frozenset[str] = frozenset()
        # (next step that may save, mode, collections version, len(included), from step,
        #  the collections that save at that next step)
        self._quiet: tuple[int, ModeKeys, int, int, int, dict[str, Collection]] | None = None

    def begin_step(self, mode: ModeKeys, mode_step: int) -> bool:
        """Decide the active collections for this step; True if any tensor may be saved.

        After a step that saves nothing, the next step that may save, and which collections save
        then, are computed once; the steps before it (with the same mode, inclusions and save
        configs) cost one comparison, and that step itself a lookup.
        """
        quiet = self._quiet_through(mode, mode_step)
        nexts: list[tuple[int, str, Collection]] = []
        if quiet is not None:
            if mode_step < quiet[0]:
                return False
            active = quiet[5]
        else:
            active = {}
            seen: dict[int, int | None] = {}  # collections share save configs (the hook's)
            for name in self.included:
                coll = self.collections.get(name)
                cfg = coll.save_config or self.save_config
                if cfg.inherits(mode):  # a mode the collection's config leaves to the hook's
                    cfg = self.save_config
                nxt = seen.get(id(cfg), -1)
                if nxt == -1:
                    nxt = seen[id(cfg)] = cfg.next_save_step(mode, mode_step)
                if nxt == mode_step:
                    active[name] = coll
                elif nxt is not None:
                    nexts.append((nxt, name, coll))
        self._quiet = None
        if not active:
            until = min((n for n, _, _ in nexts), default=1 << 62)
            then = {name: coll for n, name, coll in nexts if n == until}
            self._quiet = (until, mode, self.collections.version, len(self.included), mode_step, then)
        self.active = active
        if active:
            self._check_fingerprint()
        key = self.active_key = frozenset(active)
        plans = self._plan_sets.get(key)
        if plans is None:
            plans = self._plan_sets[key] = {}
        self._plans = plans
        return bool(active)

    def quiet_steps(self, mode: ModeKeys, mode_step: int) -> int:
        """How many of the next steps of ``mode`` (after ``mode_step``, which ``begin_step`` just
        found quiet) save nothing, as long as inclusions and collections stay as they are
        (``collections.version``)."""
        quiet = self._quiet_through(mode, mode_step)
        return 0 if quiet is None else max(0, quiet[0] - mode_step - 1)

    def _quiet_through(self, mode: ModeKeys, mode_step: int) -> tuple[int, ModeKeys, int, int, int, dict[str, Collection]] | None:  # fmt: skip
        """The quiet stretch computed earlier, if it still holds and reaches ``mode_step``."""
        quiet = self._quiet
        if (
            quiet is not None
            and quiet[4] <= mode_step <= quiet[0]
            and mode is quiet[1]
            and quiet[2] == self.collections.version
            and quiet[3] == len(self.included)
        ):
            return quiet
        return None

    @property
    def cache_key(self) -> tuple[int, frozenset[str]]:
        """Equal between two steps exactly when every ``plan(name)`` answer is the same."""
        return self.version, self.active_key

    def _check_fingerprint(self) -> None:
        # the manager's version counts every change of its collections: include, add_tensor_name,
        # attribute changes and changes of a tensor_names set (see smdbg.collections)
        fp = (self.collections.version, len(self.included), id(self.reduction_config))
        if fp != self._fingerprint:
            if self.on_change is not None:
                self.on_change()
                fp = (self.collections.version, len(self.included), id(self.reduction_config))
            self._fingerprint = fp
            self._members.clear()
            for plans in self._plan_sets.values():
                plans.clear()
            self.version += 1

    def members(self, name: str) -> tuple[str, ...]:
        """The names of every collection (included or not) the tensor belongs to."""
        m = self._members.get(name)
        if m is None:
            self._check_fingerprint()
            m = self._members[name] = tuple(c.name for c in self.collections if c.matches(name))
        return m

    def plan(self, name: str) -> TensorPlan | None:
        """What to save of ``name`` now, or None if nothing. Collection changes made with
        ``include``/``add_tensor_name`` take effect from the next step."""
        if name in self._plans:
            return self._plans[name]
        self._check_fingerprint()
        colls = [self.active[c] for c in self.members(name) if c in self.active]
        plan = None
        if colls:
            keys: list[str] = []
            raw = False
            shape = False
            hist = None
            for c in colls:
                default = None if c.name in SCALAR_COLLECTIONS else self.reduction_config
                rc = c.reduction_config or default or ReductionConfig()
                keys.extend(k for k in rc.keys if k not in keys)
                raw = raw or rc.saves_raw
                shape = shape or rc.save_shape
                hist = hist or rc.histogram_spec  # the first collection's that asks for one
            plan = TensorPlan(self.members(name), tuple(keys), raw, shape, hist)
        self._plans[name] = plan
        return plan
