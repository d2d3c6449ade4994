"""smdebug's ``RequiredTensors``: the tensors and steps a rule declares before each step.

A rule written the smdebug way fills ``self.req_tensors`` in ``set_required_tensors(step)``;
before ``invoke_at_step(step)`` runs, :meth:`RequiredTensors.fetch` waits for the steps and
checks that every required tensor has data there, raising what the trial API raises otherwise
(the step is then skipped, as smdebug's rule invoker skips it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from smdbg.exceptions import TensorUnavailable
from smdbg.trial import Tensor, Trial

__all__ = ["RequiredTensors"]


class _ForTrial:
    """Required tensors of one trial: name -> steps, and the Tensor objects."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.steps: dict[str, list[int]] = {}
        self.tensors: dict[str, Tensor] = {}

    def add(self, name: str, steps: Iterable[int]) -> None:
        self.steps.setdefault(name, []).extend(int(s) for s in steps)
        if name not in self.tensors:
            self.tensors[name] = self.trial.tensor(name)

    def fetch(self) -> None:
        wanted = sorted({s for steps in self.steps.values() for s in steps})
        if wanted:
            self.trial.wait_for_steps(wanted)
        for name, steps in self.steps.items():
            for step in steps:
                # Raw value or any reduction will do (smdebug asked for the raw value, so a rule
                # on reductions-only tensors skipped every step): raises when nothing is there.
                self.tensors[name].reduction_values(step)


class RequiredTensors:
    """``self.req_tensors`` of a rule: ``add(name, steps, trial=None, should_match_regex=False)``,
    ``get(trial=None)`` (the Tensor objects), ``get_names``, ``get_tensor_steps``, ``clear``,
    ``fetch``. ``trial=None`` means the rule's base trial."""

    def __init__(self, base_trial: Trial, other_trials: Sequence[Trial] | None = None) -> None:
        self.base_trial = base_trial
        self._per_trial = [_ForTrial(t) for t in [base_trial, *(other_trials or [])]]

    def _of(self, trial: Trial | None) -> _ForTrial:
        trial = self.base_trial if trial is None else trial
        for p in self._per_trial:
            if p.trial is trial:
                return p
        raise ValueError(
            f"trial {getattr(trial, 'path', trial)!r} is neither the rule's base trial nor one of its other trials"
        )

    def add(self, name: str, steps: Iterable[int], trial: Trial | None = None, should_match_regex: bool = False) -> None:
        """Require tensor ``name`` (every tensor matching it, with ``should_match_regex``) at
        global ``steps``; TensorUnavailable if the trial has no such tensor."""
        part = self._of(trial)
        if should_match_regex:
            steps = list(steps)
            for match in part.trial.tensor_names(regex=[name]):
                part.add(match, steps)
            return
        if not part.trial.has_tensor(name):
            raise TensorUnavailable(name)
        part.add(name, steps)

    def get_tensor_steps(self, name: str, trial: Trial | None = None) -> list[int]:
        return self._of(trial).steps[name]

    def get_names(self, trial: Trial | None = None) -> list[str]:
        return list(self._of(trial).steps)

    def get(self, trial: Trial | None = None) -> list[Tensor]:
        return list(self._of(trial).tensors.values())

    def clear(self) -> None:
        for p in self._per_trial:
            p.steps.clear()
            p.tensors.clear()

    def fetch(self) -> None:
        """Wait for the required steps and check every required tensor has data at them."""
        for p in self._per_trial:
            p.fetch()
