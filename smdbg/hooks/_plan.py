"""Which tensors a hook saves at a step, and how: decided once per step, cached per tensor.

Pure bookkeeping over collections and configs; no framework imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from smdbg.collections import Collection, CollectionManager
from smdbg.config import ReductionConfig, SaveConfig
from smdbg.modes import ModeKeys

__all__ = ["TensorPlan", "SavePlanner"]


@dataclass(frozen=True)
class TensorPlan:
    """What to save of one tensor at the current step."""

    collections: tuple[str, ...]
    reductions: tuple[str, ...]  # stored keys: "mean", "abs_max", "l2" ...
    raw: bool
    save_shape: bool


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
    ) -> None:
        self.collections = collections
        self.included = included
        self.save_config = save_config
        self.reduction_config = reduction_config
        self.active: dict[str, Collection] = {}
        self.version = 0  # bumped whenever cached plans are dropped (collections changed)
        self._fingerprint: tuple[object, ...] = ()
        self._members: dict[str, tuple[str, ...]] = {}
        self._plan_sets: dict[frozenset[str], dict[str, TensorPlan | None]] = {}
        self._plans: dict[str, TensorPlan | None] = {}
        # (next step that may save, mode, save-config epoch, len(included), from step)
        self._quiet: tuple[int, ModeKeys, int, int, int] | None = None

    def begin_step(self, mode: ModeKeys, mode_step: int) -> bool:
        """Decide the active collections for this step; True if any tensor may be saved.

        After a step that saves nothing, the next step that may save is computed once; the
        steps before it (with the same mode, inclusions and save configs) cost one comparison.
        """
        quiet = self._quiet
        if (
            quiet is not None
            and mode_step < quiet[0]
            and mode is quiet[1]
            and quiet[2] == Collection.save_config_epoch
            and quiet[3] == len(self.included)
            and mode_step >= quiet[4]
        ):
            return False
        active = {}
        for name in self.included:
            coll = self.collections.get(name)
            cfg = coll.save_config or self.save_config
            if cfg.should_save_step(mode, mode_step):
                active[name] = coll
        self._quiet = None
        if not active:
            nexts = [
                (self.collections.get(n).save_config or self.save_config).next_save_step(mode, mode_step)
                for n in self.included
            ]
            until = min((s for s in nexts if s is not None), default=1 << 62)
            self._quiet = (until, mode, Collection.save_config_epoch, len(self.included), mode_step)
        self.active = active
        if active:
            self._check_fingerprint()
        key = frozenset(active)
        plans = self._plan_sets.get(key)
        if plans is None:
            plans = self._plan_sets[key] = {}
        self._plans = plans
        return bool(active)

    @property
    def cache_key(self) -> tuple[int, frozenset[str]]:
        """Equal between two steps exactly when every ``plan(name)`` answer is the same."""
        return self.version, frozenset(self.active)

    def _check_fingerprint(self) -> None:
        # Collection.mutations counts include/add_tensor_name/attribute changes; the name counts
        # catch names added to a collection's tensor_names set directly.
        fp = (
            Collection.mutations,
            tuple([len(c.tensor_names) for c in self.collections]),
            tuple(self.included),
            id(self.reduction_config),
        )
        if fp != self._fingerprint:
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
            for c in colls:
                rc = c.reduction_config or self.reduction_config or ReductionConfig()
                keys.extend(k for k in rc.keys if k not in keys)
                raw = raw or rc.saves_raw
                shape = shape or rc.save_shape
            plan = TensorPlan(self.members(name), tuple(keys), raw, shape)
        self._plans[name] = plan
        return plan
