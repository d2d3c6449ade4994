"""Rule jobs: evaluate a rule over a finished trial, or follow a live one until training ends,
recording status and findings in the trial and firing actions on findings.

The job writes a :class:`~smdbg.trial.RuleStatusDoc` (``<trial>/rules/<name>/status.json``) and its
findings (``findings.jsonl``, the first ``max_findings``) through the trial; read them with
``trial.rule_statuses()`` and :func:`read_findings`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from smdbg.fs import check_path_component
from smdbg.rules._actions import Action, StopTraining, parse_action
from smdbg.rules._base import Finding, Rule, RuleStatus
from smdbg.rules._errors import RuleConfigError
from smdbg.trial import RuleStatusDoc, Trial, follow_steps, write_findings, write_rule_status
from smdbg.trial import read_findings as _read_findings

__all__ = ["RuleJob", "RuleJobResult", "read_findings"]

log = logging.getLogger(__name__)


@dataclass
class RuleJobResult:
    status: RuleStatus
    reason: str
    findings: list[Finding] = field(default_factory=list)
    findings_count: int = 0
    last_step: int = -1


def read_findings(trial: str | Trial, rule_name: str) -> list[Finding]:
    """The findings a rule job recorded in a trial (its path or the open trial; [] if none)."""
    return _read_findings(trial, rule_name)


class RuleJob:
    """Runs one rule over one trial. ``follow=True`` keeps evaluating new complete steps every
    ``poll_interval`` seconds until training ends (or ``end_step``, or ``timeout`` seconds).
    ``progress`` receives one line per evaluated range.

    Actions are made (and notify URLs checked) here, so a bad one raises :class:`RuleConfigError`
    before anything runs; ``stop_training`` runs first. Background actions get
    ``action_timeout`` seconds at the end of the job to finish sending."""

    def __init__(self, rule: Rule, *, actions: Sequence[Action | str] = (), follow: bool = False,
                 start_step: int = 0, end_step: int | None = None, poll_interval: float = 0.5,
                 timeout: float | None = None, max_findings: int = 1000, name: str | None = None,
                 progress: Callable[[str], None] | None = None, action_timeout: float = 30.0) -> None:  # fmt: skip
        self.rule = rule
        self.trial = rule.base_trial
        made = [parse_action(a) for a in actions]
        self.actions = sorted(made, key=lambda a: not isinstance(a, StopTraining))  # stop first
        self.action_timeout = action_timeout
        self.follow = follow
        self.start_step = start_step
        self.end_step = end_step
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_findings = max_findings
        self.name = check_path_component(name or rule.rule_name, "rule job name", error=RuleConfigError)
        self.progress = progress or (lambda line: None)
        self.findings: list[Finding] = []
        self.count = 0
        self.last_step = -1
        self.action_errors: list[str] = []
        self._started = time.time()

    # -- documents in the trial ----------------------------------------------------------------
    def write_status(self, status: RuleStatus, reason: str = "") -> None:
        for action in self.actions:
            self.action_errors.extend(action.drain_errors())
        doc = RuleStatusDoc(
            rule=self.name, status=status, reason=reason, last_step=self.last_step, findings_count=self.count,
            started=self._started, rule_class=type(self.rule).__name__, parameters=dict(self.rule.params),
            actions=[a.describe() for a in self.actions], action_errors=self.action_errors[-10:],
        )  # fmt: skip
        write_rule_status(self.trial, doc)

    # -- running ------------------------------------------------------------------------------
    def _record(self, new: list[Finding]) -> None:
        if not new:
            return
        self.count += len(new)
        room = self.max_findings - len(self.findings)
        self.findings.extend(new[: max(room, 0)])
        write_findings(self.trial, self.name, self.findings)
        for f in new:
            self.progress(
                f"FINDING step {f.step}" + (f" [{f.tensor}]" if f.tensor else "") + f": {f.message}"
            )
            for action in self.actions:
                try:
                    action.fire(self.trial, self.name, f)
                except Exception as e:  # noqa: BLE001 - an action's failure never ends the rule
                    log.warning("rule %s: action %s failed: %s", self.name, action.describe(), e)
                    self.action_errors.append(f"{action.describe()}: {type(e).__name__}: {e}")

    def run(self) -> RuleJobResult:
        """Run to the end; never raises for a rule or trial problem (the status says Error)."""
        self.write_status(RuleStatus.IN_PROGRESS, "starting")
        try:
            for window in follow_steps(self.trial, self.start_step, self.end_step, follow=self.follow,
                                       poll_interval=self.poll_interval, timeout=self.timeout):  # fmt: skip
                if window.first:
                    self.rule.check()
                new = self.rule.evaluate(window.start, window.end)
                steps = (
                    [s for s in self.trial.steps() if window.start <= s < window.end]
                    if window.end > window.start
                    else []
                )
                if steps:
                    self.last_step = max(self.last_step, steps[-1])
                    self.progress(f"rule {self.name}: evaluated steps {steps[0]}..{steps[-1]} "
                                  f"({len(steps)} saved), {self.count + len(new)} findings so far")  # fmt: skip
                self._record(new)
                if not window.last:
                    self.write_status(RuleStatus.ISSUES_FOUND if self.count else RuleStatus.IN_PROGRESS,
                                      f"following the run, {self.count} findings so far")  # fmt: skip
        except RuleConfigError as e:
            return self._finish(RuleStatus.ERROR, str(e))
        except Exception as e:  # noqa: BLE001 - reported in the status, with the type
            log.exception("rule %s failed", self.name)
            return self._finish(RuleStatus.ERROR, f"{type(e).__name__}: {e}")
        ended_badly = "; ".join(f"{w}: {why}" for w, why in self.trial.end_reasons().items())
        if ended_badly:  # a crashed run: say so instead of a plain "no issues"
            self.progress(f"rule {self.name}: training ended abnormally ({ended_badly})")
        suffix = f" (training ended abnormally: {ended_badly})" if ended_badly else ""
        if self.count:
            first = self.findings[0] if self.findings else None
            reason = f"{self.count} findings" + (
                f"; first at step {first.step}: {first.message}" if first else ""
            )
            return self._finish(RuleStatus.ISSUES_FOUND, reason + suffix)
        return self._finish(RuleStatus.NO_ISSUES_FOUND, f"no issues up to step {self.last_step}{suffix}")

    def _finish(self, status: RuleStatus, reason: str) -> RuleJobResult:
        deadline = time.monotonic() + self.action_timeout
        for action in self.actions:
            action.close(max(deadline - time.monotonic(), 0.0))
        self.write_status(status, reason)
        self.progress(f"rule {self.name}: {status} - {reason}")
        return RuleJobResult(status, reason, list(self.findings), self.count, self.last_step)
