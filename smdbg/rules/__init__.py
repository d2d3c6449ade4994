"""Rules: open, vectorised checks over a trial, rule jobs that follow a live run, and actions.

::

    from smdbg.trials import create_trial
    from smdbg.rules import builtin_rule, invoke_rule
    rule = builtin_rule("vanishing_gradient", create_trial(path), threshold=1e-6)
    for finding in rule.evaluate():
        print(finding.step, finding.tensor, finding.message)

See docs/rules.md.
"""

from collections.abc import Sequence
from typing import Any

from smdbg.rules._base import Finding, Rule, RuleStatus
from smdbg.rules._errors import RuleConfigError, RuleEvaluationConditionMet
from smdbg.rules._params import Param

from smdbg.rules.builtin import BUILTIN_RULES, BuiltinRule, builtin_rule_class  # isort: skip
from smdbg.rules import rule_configs  # isort: skip
from smdbg.rules._actions import Action, Notify, StopTraining, parse_action
from smdbg.rules._invoke import invoke_rule
from smdbg.rules._job import RuleJob, RuleJobResult, read_findings
from smdbg.rules.rule_configs import RuleConfig, RuleSpec
from smdbg.trial import Trial

__all__ = [
    "Rule", "BuiltinRule", "Finding", "RuleStatus", "Param", "RuleConfigError", "RuleEvaluationConditionMet",
    "invoke_rule", "builtin_rule", "builtin_rule_class", "BUILTIN_RULES", "rule_configs", "RuleConfig", "RuleSpec",
    "RuleJob", "RuleJobResult", "read_findings", "Action", "StopTraining", "Notify", "parse_action",
]  # fmt: skip


def builtin_rule(
    name: str, base_trial: Trial, other_trials: Sequence[Trial] | None = None, **parameters: Any
) -> Rule:
    """A built-in rule by name, e.g. ``builtin_rule("exploding_tensor", trial, only_nan=True)``."""
    return builtin_rule_class(name)(base_trial, other_trials=other_trials, **parameters)
