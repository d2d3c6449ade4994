"""Debugger wiring for training jobs: the hook's JSON config and one rule job per rule."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smdbg.fs import check_path_component

__all__ = ["check_rules", "hook_config_json", "rule_job_argv", "rule_summary"]

HOOK_CONFIG_NAME = "debughookconfig.json"  # the name SageMaker uses in /opt/ml/input/config
RULE_WAIT_S = 120


def check_rules(rules: Sequence[Any] | None) -> list[Any]:
    out = []
    for i, r in enumerate(rules or []):
        if not all(hasattr(r, a) for a in ("name", "rule_name", "rule_parameters", "collections_to_save")):
            raise TypeError(
                f"rules[{i}]={r!r}: expected a rule from Rule.builtin(...) "
                "(e.g. Rule.builtin(rule_configs.exploding_tensor()))"
            )
        check_path_component(r.name, f"rules[{i}] name (its log file and status folder)", error=ValueError)
        out.append(r)
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise ValueError(
            f"rules have duplicate names {names}; pass name=... to Rule.builtin to tell them apart"
        )
    return out


def hook_config_json(
    local_path: str, rules: Sequence[Any], hook_config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The hook config (smdbg.hook_config shape): the user's, plus each rule's collections."""
    user = dict(hook_config or {})
    unknown = set(user) - {"HookParameters", "CollectionConfigurations", "LocalPath", "S3OutputPath"}
    if unknown:
        raise ValueError(
            f"debugger_hook_config has unknown key(s) {sorted(unknown)}; expected HookParameters and "
            "CollectionConfigurations (the JSON hook config shape, see smdbg.hook_config)"
        )
    colls: dict[str, dict[str, Any]] = {}
    for c in user.get("CollectionConfigurations") or []:
        colls[c["CollectionName"]] = dict(c.get("CollectionParameters") or {})
    for r in rules:
        for c in r.collections_to_save:
            colls.setdefault(c.name, {}).update({k: str(v) for k, v in (c.parameters or {}).items()})
    doc: dict[str, Any] = {"LocalPath": local_path, "HookParameters": dict(user.get("HookParameters") or {})}
    if colls:
        doc["CollectionConfigurations"] = [
            {"CollectionName": n, "CollectionParameters": p} for n, p in sorted(colls.items())
        ]
    from smdbg.hook_config import HookConfig

    HookConfig.from_dict(doc, source="debugger_hook_config", strict=True)  # a bad key fails now, not in the job
    return doc


def rule_job_argv(trial: str, rule: Any, actions: Sequence[str]) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "smdbg.rules.cli",  # `smdbg rule run` without loading the other commands
        "run",
        trial,
        "--rule",
        rule.rule_name,
        "--name",
        rule.name,
    ]
    argv += ["--follow", "--wait", str(RULE_WAIT_S)]
    for k, v in dict(rule.rule_parameters).items():
        argv += ["--param", f"{k}={v}"]
    for a in actions:
        argv += ["--action", a]
    return argv


def rule_summary(
    trial: str | os.PathLike[str], job_dir: Path, rules: Sequence[Mapping[str, Any]], exit_codes: Mapping[str, int]
) -> list[dict[str, Any]]:
    """SageMaker's ``DebugRuleEvaluationStatuses`` from the rule jobs' status documents (read
    through the trial API, which serves them also before the trial has any data)."""
    from smdbg.trial import read_rule_statuses

    statuses = read_rule_statuses(os.fspath(trial))
    out = []
    for r in rules:
        doc = statuses.get(r["name"])
        if doc is not None:
            status, detail = str(doc.get("status")), str(doc.get("reason") or "")
        elif r["name"] in exit_codes:
            log = job_dir / "rules" / f"{r['name']}.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.is_file() else []
            status, detail = "Error", "\n".join(tail) or f"rule job exited with {exit_codes[r['name']]}"
        else:
            status, detail = "InProgress", ""
        out.append(
            {"RuleConfigurationName": r["name"], "RuleEvaluationStatus": status, "StatusDetails": detail}
        )
    return out
