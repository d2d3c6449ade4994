"""smdebug-compatible ``invoke_rule``: evaluate a rule over a range of steps, following a live trial."""

from __future__ import annotations

import time

from smdbg.rules._base import Finding, Rule
from smdbg.rules._errors import RuleEvaluationConditionMet

__all__ = ["invoke_rule"]


def invoke_rule(rule_obj: Rule, start_step: int = 0, end_step: int | None = None, raise_eval_cond: bool = False,
                poll_interval: float = 0.2, timeout: float | None = None) -> list[Finding]:  # fmt: skip
    """Evaluate ``rule_obj`` on the saved steps in ``[start_step, end_step)`` (``end_step=None``:
    until training ends, waiting for new steps of a live run). Returns the findings; with
    ``raise_eval_cond=True`` the first finding raises :class:`RuleEvaluationConditionMet` instead,
    as smdebug did. Only saved steps are evaluated, not every integer step."""
    trial = rule_obj.base_trial
    deadline = None if timeout is None else time.monotonic() + timeout
    checked = False
    found: list[Finding] = []
    nxt = start_step
    while True:
        trial.refresh(force=True)
        ended = trial.training_has_ended()
        if not checked and (ended or trial.steps()):
            rule_obj.check()
            checked = True
        if checked:
            last = trial.last_complete_step()
            end = last + 1 if end_step is None else min(last + 1, end_step)
            new = rule_obj.evaluate(nxt, end)
            nxt = max(nxt, end)
            for f in new:
                rule_obj.logger.info("%s: %s", rule_obj.rule_name, f.message)
                if raise_eval_cond:
                    raise RuleEvaluationConditionMet(rule_obj.rule_name, f.step, finding=f)
            found += new
            if ended or (end_step is not None and nxt >= end_step):
                return found
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"invoke_rule: training did not reach step {end_step} within {timeout:g}s")
        time.sleep(poll_interval)
