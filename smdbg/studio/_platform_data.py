"""The platform pages' data: jobs, AutoML jobs, endpoints and monitoring executions.

Jobs and endpoints are read from the studio's platform root (``home``, passed to every function
here) through the platform's own functions (``list_jobs``, ``describe_job``, ``job_logs``,
``list_endpoints``, each given ``home=``); AutoML jobs and monitoring
reports are folders found under the configured roots (:class:`~smdbg.studio._roots.FolderIndex`):
an AutoML job is a folder with ``job.json`` and ``candidates.json``, a monitoring execution a
folder with ``constraint_violations.json``. Every function returns JSON-ready dicts and raises
:class:`~smdbg.studio._debugger_data.StudioNotFound` for a name it does not know.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smdbg.fs import url_to_fs
from smdbg.platform.jobs import JobNotFound, describe_job, job_logs, list_jobs
from smdbg.platform.jobs._estimator import TrainingJob
from smdbg.platform.jobs._metrics import compile_metric_definitions
from smdbg.platform.serving import list_endpoints
from smdbg.studio._debugger_data import StudioNotFound
from smdbg.studio._layout import page_url
from smdbg.studio._roots import FolderIndex

__all__ = [
    "PlatformRoots", "jobs_table", "job_detail", "automl_table", "automl_detail", "automl_notebook",
    "endpoints_table", "capture_volume", "monitor_executions", "NOTEBOOKS",
]  # fmt: skip

#: The two notebooks an AutoML job writes, by the short name a URL uses.
NOTEBOOKS = {
    "data": "SageMakerAutopilotDataExplorationNotebook.ipynb",
    "candidates": "SageMakerAutopilotCandidateDefinitionNotebook.ipynb",
}
#: A job log shows at most its last 64 KiB per host (the page says so).
LOG_TAIL_BYTES = 64 * 1024
#: Capture files are read to count records only up to this many bytes in all.
_COUNT_RECORDS_UP_TO = 32 * 1024 * 1024


class PlatformRoots:
    """Where AutoML jobs and monitoring reports are looked for (local folders)."""

    def __init__(self, automl: Sequence[str | os.PathLike[str]] = (),
                 monitor: Sequence[str | os.PathLike[str]] = ()) -> None:  # fmt: skip
        self.automl = FolderIndex(automl, lambda p: (p / "job.json").is_file() and (p / "candidates.json").is_file())
        self.monitor = FolderIndex(monitor, lambda p: (p / "constraint_violations.json").is_file(), max_depth=9)


# -- jobs ------------------------------------------------------------------------------------------
def jobs_table(home: Path) -> list[dict[str, Any]]:
    """Every job under ``<home>/jobs``, newest first."""
    return list(reversed(list_jobs(home)))


def _tail(text: str) -> dict[str, Any]:
    data = text.encode()
    cut = data[-LOG_TAIL_BYTES:].decode(errors="replace")
    return {"text": cut, "shown_bytes": min(len(data), LOG_TAIL_BYTES), "total_bytes": len(data)}


def _metric_series(definitions: Any, logs: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """Each metric's values in log order per host, numbered as the supervisor numbers them."""
    try:
        defs = compile_metric_definitions(definitions)
    except ValueError:
        return {}
    out: dict[str, dict[str, list[float]]] = {}
    for host, text in logs.items():
        for line in text.splitlines():
            for d in defs:
                value = d.match(line)
                if value is not None:
                    out.setdefault(d.name, {}).setdefault(host, []).append(value)
    return out


def job_detail(name: str, home: Path, trial_index: FolderIndex | None = None) -> dict[str, Any]:
    """A job's status, description, log tails, metric series (from its metric definitions),
    final metrics, rule statuses and, when the studio can read it, its debugger trial's id."""
    try:
        desc = describe_job(name, home)
        logs = job_logs(name, home)
    except (JobNotFound, ValueError) as e:
        raise StudioNotFound(f"no job {name!r} ({e})", "/platform/jobs", "all jobs") from None
    kind = "training" if "TrainingJobName" in desc else "processing"
    rules: list[dict[str, Any]] = []
    if kind == "training" and desc.get("DebugRuleConfigurations"):
        rules = TrainingJob(name, home).rule_job_summary()
    trial = (desc.get("DebugHookConfig") or {}).get("S3OutputPath")
    trial_id = trial_index.id_for(trial) if trial and trial_index is not None else None
    definitions = (desc.get("AlgorithmSpecification") or {}).get("MetricDefinitions")
    return {
        "name": name, "kind": kind,
        "status": desc.get("TrainingJobStatus") or desc.get("ProcessingJobStatus") or "Unknown",
        "secondary": desc.get("SecondaryStatus"), "failure": desc.get("FailureReason"),
        "created": desc.get("CreationTime"), "ended": desc.get("TrainingEndTime") or desc.get("ProcessingEndTime"),
        "hyperparameters": desc.get("HyperParameters") or {},
        "final_metrics": desc.get("FinalMetricDataList") or [],
        "metrics": _metric_series(definitions, logs), "rules": rules,
        "logs": {host: _tail(text) for host, text in logs.items()},
        "trial": trial, "trial_id": trial_id, "description": desc,
    }  # fmt: skip


# -- AutoML ----------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _objective_value(c: dict[str, Any]) -> float | None:
    v = (c.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value")
    return None if v is None else float(v)


def automl_table(roots: PlatformRoots) -> list[dict[str, Any]]:
    """Every AutoML job found: status, problem, objective, candidates and the best score."""
    rows = []
    for fid, found in roots.automl.all().items():
        desc = _read_json(found.path / "job.json") or {}
        cands = _read_json(found.path / "candidates.json") or []
        best = desc.get("BestCandidate") or {}
        resolved = desc.get("ResolvedAttributes") or {}
        rows.append({
            "id": fid, "name": desc.get("AutoMLJobName", found.path.name), "status": desc.get("AutoMLJobStatus", "Unknown"),
            "problem_type": resolved.get("ProblemType"),
            "objective": (resolved.get("AutoMLJobObjective") or {}).get("MetricName"),
            "candidates": len(cands), "best": best.get("CandidateName"), "best_value": _objective_value(best),
            "created": desc.get("CreationTime"),
        })  # fmt: skip
    return rows


def _automl_dir(roots: PlatformRoots, job_id: str) -> Path:
    found = roots.automl.get(job_id)
    if found is None:
        raise StudioNotFound(f"no AutoML job {job_id!r} under the studio's AutoML folders", "/platform/automl", "all AutoML jobs")
    return found.path


def automl_detail(roots: PlatformRoots, job_id: str) -> dict[str, Any]:
    """The leaderboard as the job ranked it (best first, failed last), the best candidate, and
    which of the two notebooks exist (with why not, when the job says)."""
    path = _automl_dir(roots, job_id)
    desc = _read_json(path / "job.json") or {}
    cands = _read_json(path / "candidates.json") or []
    from smdbg.platform.automl._job import candidates_of  # the job's own ranking

    metric = ((desc.get("ResolvedAttributes") or {}).get("AutoMLJobObjective") or {}).get("MetricName")
    maximize = not any((c.get("FinalAutoMLJobObjectiveMetric") or {}).get("Type") == "Minimize" for c in cands)
    ranked = candidates_of(path, maximize) if cands else []
    board = [{
        "name": c.get("CandidateName"), "status": c.get("CandidateStatus"), "value": _objective_value(c),
        "algorithm": _algorithm(c), "failure": c.get("FailureReason"), "fit_seconds": (c.get("CandidateProperties") or {}).get("FitSeconds"),
    } for c in ranked]  # fmt: skip
    notebooks = {key: (path / "notebooks" / fname).is_file() for key, fname in NOTEBOOKS.items()}
    return {
        "id": job_id, "name": desc.get("AutoMLJobName", path.name), "status": desc.get("AutoMLJobStatus", "Unknown"),
        "secondary": desc.get("AutoMLJobSecondaryStatus"), "failure": desc.get("FailureReason"),
        "objective": metric, "best": desc.get("BestCandidate"), "leaderboard": board, "notebooks": notebooks,
        "time_budget": desc.get("TimeBudget"),
    }  # fmt: skip


def _algorithm(c: dict[str, Any]) -> str | None:
    for container in c.get("InferenceContainers") or []:
        if isinstance(container, dict) and container.get("Algorithm"):
            return str(container["Algorithm"])
    return None


def automl_notebook(roots: PlatformRoots, job_id: str, which: str) -> Path:
    """The file of notebook ``which`` (``data`` or ``candidates``) of an AutoML job."""
    path = _automl_dir(roots, job_id)
    if which not in NOTEBOOKS:
        raise StudioNotFound(f"no notebook {which!r} (expected one of {', '.join(NOTEBOOKS)})",
                             page_url("/platform/automl/job", id=job_id), "the AutoML job")  # fmt: skip
    nb = path / "notebooks" / NOTEBOOKS[which]
    if not nb.is_file():
        raise StudioNotFound(f"AutoML job {job_id!r} has no {NOTEBOOKS[which]} (not written)",
                             page_url("/platform/automl/job", id=job_id), "the AutoML job")  # fmt: skip
    return nb


# -- endpoints and monitoring --------------------------------------------------------------------
def capture_volume(uri: str | None) -> dict[str, Any] | None:
    """Files, bytes and records captured under ``uri`` (records counted up to 32 MiB of files)."""
    if not uri:
        return None
    try:
        fs, root = url_to_fs(uri)
        if not fs.exists(root):
            return {"files": 0, "bytes": 0, "records": 0}
        found = {p: info for p, info in fs.find(root, detail=True).items() if p.endswith(".jsonl")}
    except (OSError, ValueError) as e:
        return {"error": f"cannot list {uri}: {e}"}
    total = sum(int(info.get("size") or 0) for info in found.values())
    records: int | None = None
    if total <= _COUNT_RECORDS_UP_TO:
        records = sum(fs.cat_file(p).count(b"\n") for p in found)
    return {"files": len(found), "bytes": total, "records": records}


def endpoints_table(home: Path) -> list[dict[str, Any]]:
    """Every endpoint registered under ``home`` with its status and capture volume."""
    rows = []
    for ep in list_endpoints(home):
        uri = f"{str(ep['capture']).rstrip('/')}/{ep['name']}" if ep.get("capture") else None
        rows.append({**ep, "capture_uri": uri, "volume": capture_volume(uri)})
    return rows


def monitor_executions(roots: PlatformRoots) -> list[dict[str, Any]]:
    """Every monitoring execution found (newest first: schedule folders end in the UTC time):
    its item count and violations."""
    rows = []
    for fid, found in roots.monitor.all().items():
        doc = _read_json(found.path / "constraint_violations.json")
        stats = _read_json(found.path / "statistics.json") or {}
        violations = doc.get("violations") if isinstance(doc, dict) else None
        rows.append({
            "id": fid, "items": (stats.get("dataset") or {}).get("item_count"),
            "violations": violations if isinstance(violations, list) else [],
            "error": None if isinstance(violations, list) else "constraint_violations.json does not parse",
        })  # fmt: skip
    return sorted(rows, key=lambda r: str(r["id"]), reverse=True)
