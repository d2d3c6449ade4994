"""smdebug-compatible ``invoke_rule``: evaluate a rule over a range of steps, following a live trial."""

from __future__ import annotations

from smdbg.rules._base import Finding, Rule
from smdbg.rules._errors import RuleEvaluationConditionMet
from smdbg.trial import follow_steps

__all__ = ["invoke_rule"]


def invoke_rule(rule_obj: Rule, start_step: int = 0, end_step: int | None = None, raise_eval_cond: bool = False,
                poll_interval: float = 0.2, timeout: float | None = None) -> list[Finding]:  # fmt: skip
    """Evaluate ``rule_obj`` on the saved steps in ``[start_step, end_step)`` (``end_step=None``:
    until training ends, waiting for new steps of a live run). Returns the findings; with
    ``raise_eval_cond=True`` the first finding raises :class:`RuleEvaluationConditionMet` instead,
    as smdebug did. Only saved steps are evaluated, not every integer step. A rule whose
    ``invoke_at_step`` raises ``RuleEvaluationConditionMet(..., end_of_rule=True)`` ends here."""
    found: list[Finding] = []
    rule_obj._stop_at_first = raise_eval_cond
    try:
        for window in follow_steps(rule_obj.base_trial, start_step, end_step, poll_interval=poll_interval,
                                   timeout=timeout):  # fmt: skip
            if window.first:
                rule_obj.check()
            new = rule_obj.evaluate(window.start, window.end)
            for f in new:
                rule_obj.logger.info("%s: %s", rule_obj.rule_name, f.message)
                if raise_eval_cond:
                    raise RuleEvaluationConditionMet(rule_obj.rule_name, f.step, finding=f)
            found += new
            if rule_obj._end_of_rule:
                break
    finally:
        rule_obj._stop_at_first = False
    return found
