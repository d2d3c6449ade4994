"""Rule jobs: evaluate a rule over a finished trial, or follow a live one until training ends,
recording status and findings in the trial and firing actions on findings.

Files (each rewritten atomically, so a reader sees a whole document)::

    <trial>/rules/<name>/status.json     {"rule", "status", "reason", "last_step", "findings_count",
                                          "updated", "started", "parameters", "actions"}
    <trial>/rules/<name>/findings.jsonl  one Finding.to_dict() per line (the first ``max_findings``)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smdbg.rules._actions import Action, parse_action
from smdbg.rules._base import Finding, Rule, RuleStatus
from smdbg.rules._errors import RuleConfigError
from smdbg.store.format import RULES_DIR
from smdbg.store.fs import open_fs

__all__ = ["RuleJob", "RuleJobResult", "read_findings"]

log = logging.getLogger(__name__)


@dataclass
class RuleJobResult:
    status: RuleStatus
    reason: str
    findings: list[Finding] = field(default_factory=list)
    findings_count: int = 0
    last_step: int = -1


def read_findings(trial_path: str, rule_name: str) -> list[Finding]:
    """The findings a rule job recorded in a trial ([] if none)."""
    fs = open_fs(trial_path)
    try:
        text = fs.read_bytes(f"{RULES_DIR}/{rule_name}/findings.jsonl").decode()
    except FileNotFoundError:
        return []
    return [Finding.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


class RuleJob:
    """Runs one rule over one trial. ``follow=True`` keeps evaluating new complete steps every
    ``poll_interval`` seconds until training ends (or ``end_step``, or ``timeout`` seconds).
    ``progress`` receives one line per evaluated range."""

    def __init__(self, rule: Rule, *, actions: Sequence[Action | str] = (), follow: bool = False,
                 start_step: int = 0, end_step: int | None = None, poll_interval: float = 0.5,
                 timeout: float | None = None, max_findings: int = 1000, name: str | None = None,
                 progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.rule = rule
        self.trial = rule.base_trial
        self.actions = [parse_action(a) for a in actions]
        self.follow = follow
        self.start_step = start_step
        self.end_step = end_step
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_findings = max_findings
        self.name = name or rule.rule_name
        self.progress = progress or (lambda line: None)
        self.fs = open_fs(self.trial.path)
        self.findings: list[Finding] = []
        self.count = 0
        self.last_step = -1
        self.action_errors: list[str] = []
        self._started = time.time()

    # -- files --------------------------------------------------------------------------------
    def _dir(self) -> str:
        return f"{RULES_DIR}/{self.name}"

    def write_status(self, status: RuleStatus, reason: str = "") -> None:
        doc: dict[str, Any] = {
            "rule": self.name,
            "rule_class": type(self.rule).__name__,
            "status": str(status),
            "reason": reason,
            "last_step": self.last_step,
            "findings_count": self.count,
            "updated": time.time(),
            "started": self._started,
            "parameters": {k: v for k, v in self.rule.params.items()},
            "actions": [a.describe() for a in self.actions],
        }
        if self.action_errors:
            doc["action_errors"] = self.action_errors[-10:]
        self.fs.write_atomic(
            f"{self._dir()}/status.json", json.dumps(doc, default=str, indent=1).encode(), fsync=False
        )

    def _write_findings(self) -> None:
        body = "".join(json.dumps(f.to_dict(), default=str) + "\n" for f in self.findings)
        self.fs.write_atomic(f"{self._dir()}/findings.jsonl", body.encode(), fsync=False)

    # -- running ------------------------------------------------------------------------------
    def _record(self, new: list[Finding]) -> None:
        if not new:
            return
        self.count += len(new)
        room = self.max_findings - len(self.findings)
        self.findings.extend(new[: max(room, 0)])
        self._write_findings()
        for f in new:
            self.progress(
                f"FINDING step {f.step}" + (f" [{f.tensor}]" if f.tensor else "") + f": {f.message}"
            )
            for action in self.actions:
                try:
                    action.fire(self.trial.path, self.name, f)
                except OSError as e:
                    log.warning("rule %s: action %s failed: %s", self.name, action.describe(), e)
                    self.action_errors.append(f"{action.describe()}: {e}")

    def _ready(self, ended: bool) -> bool:
        """Whether the trial can be checked: finished, or has a complete step (follow mode)."""
        if ended or not self.follow:
            return True
        return bool(self.trial.steps())

    def run(self) -> RuleJobResult:
        """Run to the end; never raises for a rule or trial problem (the status says Error)."""
        self.write_status(RuleStatus.IN_PROGRESS, "starting")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            checked = False
            next_start = self.start_step
            while True:
                self.trial.refresh(force=True)
                ended = self.trial.training_has_ended()
                if not checked and self._ready(ended):
                    self.rule.check()
                    checked = True
                if checked:
                    last = self.trial.last_complete_step()
                    end = last + 1 if self.end_step is None else min(last + 1, self.end_step)
                    new = self.rule.evaluate(next_start, end)
                    if end > next_start:
                        steps = [s for s in self.trial.steps() if next_start <= s < end]
                        if steps:
                            self.last_step = max(self.last_step, steps[-1])
                            self.progress(f"rule {self.name}: evaluated steps {steps[0]}..{steps[-1]} "
                                          f"({len(steps)} saved), {self.count + len(new)} findings so far")  # fmt: skip
                        next_start = end
                    self._record(new)
                    done = (
                        not self.follow
                        or ended
                        or (self.end_step is not None and next_start >= self.end_step)
                    )
                    if done:
                        break
                    self.write_status(RuleStatus.ISSUES_FOUND if self.count else RuleStatus.IN_PROGRESS,
                                      f"following the run, {self.count} findings so far")  # fmt: skip
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"the rule job stopped after its timeout of {self.timeout:g}s before training ended"
                    )
                time.sleep(self.poll_interval)
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
        self.write_status(status, reason)
        self.progress(f"rule {self.name}: {status} - {reason}")
        return RuleJobResult(status, reason, list(self.findings), self.count, self.last_step)
