"""The rule contract: :class:`Rule`. Its findings (:class:`Finding`) and a job's status
(:class:`RuleStatus`) are documents of the trial, defined in ``smdbg.trial`` and re-exported here.

A rule looks at a trial and returns findings as values. The contract lives here once:

* ``Rule(base_trial, other_trials=None, **parameters)`` validates its parameters at once
  (:class:`RuleConfigError` names a bad one).
* ``check()`` raises :class:`RuleConfigError` when the trial cannot serve the rule (no tensor of
  a needed collection, a regex matching nothing); it may be called again while training runs.
* ``evaluate(start_step, end_step)`` returns the findings at *complete, saved* global steps in
  ``[start_step, end_step)``, in step order. It never raises to report a finding, may be called
  repeatedly on a growing trial, and is deterministic for the steps it covers.
* ``invoke_at_step(step) -> bool`` and ``invoke(step)`` are smdebug's per-step API: a ported
  rule overrides ``invoke_at_step`` (returning True, or raising
  :class:`RuleEvaluationConditionMet`) and the base ``evaluate`` calls it for each saved step.
  As in smdebug, each step runs inside ``no_refresh(self.trials)``: first
  ``set_required_tensors(step)`` fills ``self.req_tensors`` (a
  :class:`~smdbg.rules._required.RequiredTensors`), which is fetched, then ``invoke_at_step``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from smdbg.exceptions import StepUnavailable, TensorUnavailable, TensorUnavailableForStep
from smdbg.rules._errors import RuleConfigError, RuleEvaluationConditionMet
from smdbg.rules._params import Param, parse_parameters
from smdbg.rules._required import RequiredTensors
from smdbg.trial import Finding, RuleStatus, Trial, no_refresh

__all__ = ["Finding", "RuleStatus", "Rule"]


class Rule:
    """Base of every rule. Subclass it and override :meth:`invoke_at_step` (smdebug style, one
    step at a time) or :meth:`evaluate` (vectorised over a range of steps).

    Class attributes: ``name`` (the rule's name in statuses and the CLI; defaults to the class
    name), ``parameters`` (a mapping of :class:`~smdbg.rules.Param`; keyword arguments of the
    constructor are checked against it) and ``needs_other_trial``.
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[Mapping[str, Param]] = {}
    needs_other_trial: ClassVar[bool] = False
    #: ``Rule.builtin(config, rule_parameters=None, collections_to_save=None, name=None)``: a
    #: built-in rule and the collections to save for it (SageMaker's ``Rule.sagemaker``, the same).
    #: Bound by :mod:`smdbg.rules.rule_configs`, which knows the built-in rules (this base class
    #: does not import its subclasses).
    builtin: ClassVar[Callable[..., Any]]
    sagemaker: ClassVar[Callable[..., Any]]

    def __init__(self, base_trial: Trial, *args: Sequence[Trial] | str | None,
                 other_trials: Sequence[Trial] | None = None, action_str: str = "", **parameters: Any) -> None:  # fmt: skip
        # Positionally, ``Rule(base_trial, other_trials)`` or smdebug's ``Rule(base_trial, action_str, other_trials)``.
        if len(args) > 2:
            raise TypeError(f"{type(self).__name__}: expected at most base_trial, action_str and other_trials "
                            f"positionally, got {len(args) + 1} arguments")  # fmt: skip
        for arg in args:
            if isinstance(arg, str):
                action_str = arg
            elif arg is not None:
                other_trials = arg
        self.base_trial = base_trial
        self.other_trials = list(other_trials or [])
        self.trials = [base_trial, *self.other_trials]
        self.action_str = action_str
        self.req_tensors = RequiredTensors(base_trial, self.other_trials)
        self._end_of_rule = False  # an invoke_at_step raised RuleEvaluationConditionMet(end_of_rule=True)
        self._stop_at_first = False  # invoke_rule(raise_eval_cond=True): no step after the first finding
        self.params: dict[str, Any] = parse_parameters(self.rule_name, self.parameters, parameters)
        self.logger = logging.getLogger(f"smdbg.rules.{self.rule_name}")
        self._mode_cache: dict[int, tuple[str | None, int | None]] = {}
        if self.needs_other_trial and not self.other_trials:
            raise RuleConfigError(
                f"rule {self.rule_name} compares two runs but got no other trial: pass other_trials=[create_trial(path)] "
                "(CLI: --other-trial PATH)"
            )

    @property
    def rule_name(self) -> str:
        return type(self).name or type(self).__name__

    # -- the contract -------------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`RuleConfigError` if the trial lacks what this rule needs."""

    def evaluate(self, start_step: int = 0, end_step: int | None = None) -> list[Finding]:
        """Findings at complete saved global steps in ``[start_step, end_step)``.

        This default calls :meth:`invoke_at_step` for each saved step (only saved steps, not
        every integer); vectorised rules override it."""
        if type(self).invoke_at_step is Rule.invoke_at_step:
            raise NotImplementedError(f"{type(self).__name__} must override evaluate() or invoke_at_step()")
        end = self.complete_end(end_step)
        out: list[Finding] = []
        for step in self.base_trial.steps():
            if self._end_of_rule or (out and self._stop_at_first):
                break
            if step < start_step or step >= end:
                continue
            try:
                hit = self._invoke_step(step)
            except RuleEvaluationConditionMet as e:
                out.append(e.finding if isinstance(e.finding, Finding) else self.finding(step, str(e)))
                self._end_of_rule = bool(e.end_of_rule)
                continue
            except (TensorUnavailableForStep, StepUnavailable, TensorUnavailable):
                continue
            if hit:
                out.append(self.finding(step, f"rule {self.rule_name} condition met at step {step}"))
        return out

    def _invoke_step(self, step: int) -> bool:
        """One step the smdebug way: required tensors declared and fetched, then
        ``invoke_at_step``, all inside ``no_refresh`` so that every call sees the same trial."""
        with no_refresh(self.trials):
            self.req_tensors.clear()
            self.set_required_tensors(step)
            self.req_tensors.fetch()
            return bool(self.invoke_at_step(step))

    def set_required_tensors(self, step: int) -> None:
        """smdebug's: declare with ``self.req_tensors.add(name, steps=[...])`` the tensors that
        ``invoke_at_step(step)`` reads (optional; ``self.req_tensors.get()`` returns them)."""

    def invoke_at_step(self, step: int) -> bool:
        """smdebug's per-step evaluation: True when the condition holds at ``step``."""
        return bool(self.evaluate(step, step + 1))

    def invoke(self, step: int) -> None:
        """smdebug's API: wait until global ``step`` is complete, evaluate it, and raise
        :class:`RuleEvaluationConditionMet` when the condition holds."""
        self.base_trial.wait_for_steps([step])
        if type(self).invoke_at_step is Rule.invoke_at_step:
            found = self.evaluate(step, step + 1)
            if found:
                raise RuleEvaluationConditionMet(self.rule_name, step, finding=found[0])
        elif self._invoke_step(step):
            raise RuleEvaluationConditionMet(self.rule_name, step)


    # -- helpers for subclasses ---------------------------------------------------------------
    def complete_end(self, end_step: int | None) -> int:
        """``end_step`` clipped to one past the last complete step of the base trial."""
        last = self.base_trial.last_complete_step()
        end = last + 1
        return end if end_step is None else min(end, end_step)

    def finding(self, step: int, message: str, tensor: str | None = None, **values: Any) -> Finding:
        """A :class:`Finding` at global ``step``, with its mode and mode step filled in."""
        mode, mode_step = self._mode_of(step)
        clean = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in values.items()}
        return Finding(self.rule_name, int(step), message, tensor, mode, mode_step, clean)

    def _mode_of(self, step: int) -> tuple[str | None, int | None]:
        step = int(step)
        if step not in self._mode_cache:
            try:
                mode, mode_step = self.base_trial.mode_modestep(step)
                self._mode_cache[step] = (mode.name, int(mode_step))
            except StepUnavailable:
                self._mode_cache[step] = (None, None)
            except LookupError:  # not yet, or past the end: no mode to tell (now)
                return None, None
        return self._mode_cache[step]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<{type(self).__name__} {self.rule_name}({params}) on {self.base_trial.path}>"
