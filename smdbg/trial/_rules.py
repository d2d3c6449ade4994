"""What rule jobs leave in a trial: their status, their findings, and stop requests.

One document type per file, written and read only here::

    <trial>/rules/<name>/status.json     a RuleStatusDoc (rule, status, reason, last_step,
                                         findings_count, updated, started, parameters, actions)
    <trial>/rules/<name>/findings.jsonl  one Finding per line
    <trial>/control/stop.json            a stop request (rule action; hooks stop at the next step)

Each file is replaced atomically, so a reader sees a whole document. The functions take where the
trial is (a path or URL, or an open :class:`~smdbg.trial.Trial`, whose storage options are kept)
and work before the trial has any data, so a job runner can read a rule's status early.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from smdbg.fs import check_path_component
from smdbg.trial._source import RULES_DIR, TrialLocation, source_of

__all__ = [
    "RuleStatus", "Finding", "RuleStatusDoc", "write_rule_status", "read_rule_statuses", "write_findings",
    "read_findings", "request_stop", "read_stop_request",
]  # fmt: skip

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
FINDINGS_FILE = "findings.jsonl"


class RuleStatus(str, enum.Enum):
    """A rule job's status, with SageMaker Debugger's names."""

    IN_PROGRESS = "InProgress"
    ISSUES_FOUND = "IssuesFound"
    NO_ISSUES_FOUND = "NoIssuesFound"
    ERROR = "Error"

    def __str__(self) -> str:
        return self.value


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # "nan", "inf", "-inf": valid JSON everywhere
    return v


def _from_json_number(v: Any) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


@dataclass(frozen=True)
class Finding:
    """What a rule found: at which global ``step`` (and ``mode``/``mode_step``), in which
    ``tensor`` (None for trial-level findings), a human ``message`` and the numbers behind it."""

    rule: str
    step: int
    message: str
    tensor: str | None = None
    mode: str | None = None
    mode_step: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "step": self.step,
            "mode": self.mode,
            "mode_step": self.mode_step,
            "tensor": self.tensor,
            "message": self.message,
            "values": {k: _json_number(v) for k, v in self.values.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            rule=str(d["rule"]),
            step=int(d["step"]),
            message=str(d.get("message", "")),
            tensor=d.get("tensor"),
            mode=d.get("mode"),
            mode_step=d.get("mode_step"),
            values={k: _from_json_number(v) for k, v in (d.get("values") or {}).items()},
        )


@dataclass(frozen=True, eq=False)
class RuleStatusDoc(Mapping[str, Any]):
    """A rule job's status document. Also reads (and compares equal) as the JSON mapping it is
    stored as (``doc["status"]``, ``doc.get("reason")``, ``doc == {...}``), so code written against
    the dicts keeps working. Optional fields that are None (or, for ``action_errors``, empty) are
    not written."""

    rule: str
    status: RuleStatus
    reason: str = ""
    last_step: int = -1
    findings_count: int = 0
    updated: float = field(default_factory=time.time)
    started: float | None = None
    rule_class: str | None = None
    parameters: Mapping[str, Any] | None = None
    actions: Sequence[str] | None = None
    action_errors: Sequence[str] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        out = {"rule": d.pop("rule"), "rule_class": d.pop("rule_class"), "status": str(self.status), **d}
        out = {k: v for k, v in out.items() if v is not None}
        if not self.action_errors:
            del out["action_errors"]
        else:
            out["action_errors"] = list(self.action_errors)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuleStatusDoc:
        """Raises ValueError (or KeyError) for a document that is not a rule status."""
        return cls(
            rule=str(d["rule"]),
            status=RuleStatus(d["status"]),
            reason=str(d.get("reason") or ""),
            last_step=int(d.get("last_step", -1)),
            findings_count=int(d.get("findings_count", 0)),
            updated=float(d.get("updated") or 0.0),
            started=None if d.get("started") is None else float(d["started"]),
            rule_class=d.get("rule_class"),
            parameters=d.get("parameters"),
            actions=d.get("actions"),
            action_errors=tuple(d.get("action_errors") or ()),
        )

    # -- the mapping view --------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def _rule_file(rule: str, name: str) -> str:
    return f"{RULES_DIR}/{check_path_component(rule, 'rule name')}/{name}"


def write_rule_status(where: TrialLocation, doc: RuleStatusDoc) -> None:
    """Replace the status document of rule ``doc.rule``."""
    data = json.dumps(doc.to_dict(), default=str, indent=1).encode()
    source_of(where).write_document(_rule_file(doc.rule, STATUS_FILE), data)


def read_rule_statuses(
    where: TrialLocation, storage_options: Mapping[str, Any] | None = None
) -> dict[str, RuleStatusDoc]:
    """The status documents of every rule job of the trial, by rule name ({} if none)."""
    source = source_of(where, storage_options)
    out = {}
    for rule in sorted(source.list_documents(RULES_DIR)):
        if rule.startswith("."):
            continue
        data = source.read_document(f"{RULES_DIR}/{rule}/{STATUS_FILE}")
        if data is None:
            continue
        try:
            out[rule] = RuleStatusDoc.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError) as e:  # a stray or foreign file: skipped, said once
            log.warning(
                "ignoring %s: not a rule status (%s)", source.url(f"{RULES_DIR}/{rule}/{STATUS_FILE}"), e
            )
    return out


def write_findings(where: TrialLocation, rule: str, findings: Iterable[Finding]) -> None:
    """Replace the recorded findings of ``rule``."""
    body = "".join(json.dumps(f.to_dict(), default=str) + "\n" for f in findings)
    source_of(where).write_document(_rule_file(rule, FINDINGS_FILE), body.encode())


def read_findings(
    where: TrialLocation, rule: str, storage_options: Mapping[str, Any] | None = None
) -> list[Finding]:
    """The findings a rule job recorded in the trial ([] if none)."""
    data = source_of(where, storage_options).read_document(_rule_file(rule, FINDINGS_FILE))
    if data is None:
        return []
    return [Finding.from_dict(json.loads(line)) for line in data.decode().splitlines() if line.strip()]


def request_stop(where: TrialLocation, reason: str, **details: Any) -> dict[str, Any]:
    """Ask the hooks writing the trial to stop training at their next step boundary."""
    return source_of(where).request_stop(reason, **details)


def read_stop_request(
    where: TrialLocation, storage_options: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The stop request written into the trial, or None."""
    return source_of(where, storage_options).stop_request()
