"""Actions a rule job takes on a finding: stop the training, or POST the finding to a URL."""

from __future__ import annotations

import abc
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping

from smdbg.rules._errors import RuleConfigError
from smdbg.trial import Finding, Trial, request_stop

__all__ = ["Action", "StopTraining", "Notify", "parse_action"]

log = logging.getLogger(__name__)


class Action(abc.ABC):
    """Something done when a rule finds an issue. ``fire`` may raise OSError; the job records it."""

    @abc.abstractmethod
    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        """React to one ``finding`` of rule ``rule`` in ``trial`` (``trial.path`` is its URL)."""

    def describe(self) -> str:
        return type(self).__name__


class StopTraining(Action):
    """Writes a stop request into the trial (once); hooks end training at their next step boundary."""

    def __init__(self) -> None:
        self.fired = False

    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        if self.fired:
            return
        request_stop(
            trial,
            f"rule {rule}: {finding.message}",
            rule=rule,
            step=finding.step,
            finding=finding.to_dict(),
        )
        self.fired = True

    def describe(self) -> str:
        return "stop_training"


class Notify(Action):
    """POSTs each finding (the first ``limit``) as JSON to ``url``."""

    def __init__(
        self, url: str, timeout: float = 5.0, limit: int = 100, headers: Mapping[str, str] | None = None
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise RuleConfigError(
                f"notify URL {url!r}: expected an http:// or https:// URL, e.g. notify=http://127.0.0.1:8080/hook"
            )
        self.url = url
        self.timeout = timeout
        self.limit = limit
        self.headers = dict(headers or {})
        self.sent = 0

    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        if self.sent >= self.limit:
            return
        body = json.dumps({"rule": rule, "trial": trial.path, "finding": finding.to_dict()}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **self.headers})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.URLError as e:
            raise OSError(f"notifying {self.url} failed: {e}") from e
        self.sent += 1

    def describe(self) -> str:
        return f"notify={self.url}"


def parse_action(text: str | Action) -> Action:
    """``stop_training`` or ``notify=URL`` (the CLI's ``--action`` values)."""
    if isinstance(text, Action):
        return text
    name, _, arg = str(text).partition("=")
    name = name.strip().lower()
    if name in ("stop_training", "stoptraining") and not arg:
        return StopTraining()
    if name in ("notify", "webhook") and arg:
        return Notify(arg.strip())
    raise RuleConfigError(f"unknown action {text!r}: expected stop_training or notify=URL")
