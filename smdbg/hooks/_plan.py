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
    the tensor's collection membership up in a cache (recomputed only when a collection's
    patterns or names change) and merges the reduction configs of the active ones.
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
        self._fingerprint: tuple[object, ...] = ()
        self._members: dict[str, tuple[str, ...]] = {}
        self._plans: dict[str, TensorPlan | None] = {}

    def begin_step(self, mode: ModeKeys, mode_step: int) -> bool:
        """Decide the active collections for this step; True if any tensor may be saved."""
        active = {}
        for name in self.included:
            coll = self.collections.get(name)
            cfg = coll.save_config or self.save_config
            if cfg.should_save_step(mode, mode_step):
                active[name] = coll
        if active.keys() != self.active.keys():
            self._plans.clear()
        self.active = active
        if active:
            self._check_fingerprint()
        return bool(active)

    def _check_fingerprint(self) -> None:
        fp = tuple((c.name, len(c._patterns), len(c.tensor_names)) for c in self.collections) + (
            tuple(self.included),
        )
        if fp != self._fingerprint:
            self._fingerprint = fp
            self._members.clear()
            self._plans.clear()

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
