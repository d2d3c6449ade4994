"""The errors of rules: a bad rule configuration, and smdebug's finding-as-exception."""

from __future__ import annotations

from typing import Any

from smdbg.exceptions import SmdbgError

__all__ = ["RuleConfigError", "RuleEvaluationConditionMet"]


class RuleConfigError(SmdbgError, ValueError):
    """A rule cannot run as configured: an unknown rule or parameter, a value of the wrong type, a
    regex matching no tensor, or a trial lacking the tensors the rule needs. The message says
    what was given, what was expected and how to fix it."""


class RuleEvaluationConditionMet(SmdbgError):
    """smdebug's way of reporting a finding: raised by ``Rule.invoke(step)`` when the rule's
    condition holds, and by ``invoke_rule(..., raise_eval_cond=True)``. Built-in rules return
    :class:`~smdbg.rules.Finding` values instead; this exists for ported code. Raised with
    ``end_of_rule=True`` from ``invoke_at_step``, it also ends ``invoke_rule`` (as in smdebug)."""

    def __init__(self, rule_name: str, step: int, end_of_rule: bool = False, finding: Any = None) -> None:
        msg = f"evaluation condition met for rule {rule_name} at step {step}"
        if finding is not None and getattr(finding, "message", None):
            msg += f": {finding.message}"
        super().__init__(msg)
        self.rule_name = rule_name
        self.step = step
        self.end_of_rule = end_of_rule  # smdebug's: the rule is done, invoke_rule stops
        self.last_step = end_of_rule  # the earlier name
        self.finding = finding
