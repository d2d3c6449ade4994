"""AutoML jobs (Autopilot v1's API) on :mod:`smdbg.platform.automl`, running in the server's
process (each candidate in its own child process, as AutoML always does).

``InputDataConfig[0]``'s CSV (an ``s3://`` key or prefix, or a local path) is downloaded into
``<root>/automl/<job>/input/``; the job writes under ``<root>/automl/<job>/``. When it completes,
its two notebooks are copied to ``OutputDataConfig.S3OutputPath/<job>/sagemaker-automl-candidates/
notebooks/`` and ``AutoMLJobArtifacts`` names those copies. A candidate's
``InferenceContainers[0].ModelDataUrl`` is its model folder on the server's machine (the best
candidate's is ``best_model/``), which ``CreateModel`` accepts as it is.

``StopAutoMLJob`` calls :meth:`AutoML.stop <smdbg.platform.automl.AutoML.stop>` without waiting:
the job shows ``Stopping`` while its running candidates are killed, then ``Stopped``, with the
candidates so far listed and the best of them as ``BestCandidate``. Stopping a job that has
ended changes nothing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from smdbg import fs
from smdbg.platform.api._data import fetch, local_or_none
from smdbg.platform.api._protocol import ValidationError
from smdbg.platform.api._registry import Context, new_name, operation, page
from smdbg.platform.api._state import arn

__all__: list[str] = []

AUTOML = "automl-job"
_UPLOAD_LOCK = threading.Lock()
_PROBLEM = {"BinaryClassification", "MulticlassClassification", "Regression"}


def _job_dir(ctx: Context, name: str) -> Path:
    return ctx.root / "automl" / name


def _csv(path: Path, uri: str) -> Path:
    if path.is_file():
        return path
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) != 1:
        raise ValidationError(
            f"InputDataConfig S3Uri {uri!r} holds {len(files)} files; give the S3 key of one CSV with a header row"
        )
    return files[0]


@operation("CreateAutoMLJob")
def create_auto_ml_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.automl import AutoML, AutoMLError

    name = new_name(ctx, AUTOML, p, "AutoMLJobName", "AutoML job")
    channels = p["InputDataConfig"]
    if len(channels) != 1:
        raise ValidationError(
            f"InputDataConfig has {len(channels)} channels: smdbg's AutoML takes one training channel"
        )
    channel = channels[0]
    uri = (channel.get("DataSource") or {}).get("S3DataSource", {}).get("S3Uri")
    if not uri:
        raise ValidationError(
            "InputDataConfig[0].DataSource.S3DataSource.S3Uri is missing: expected the CSV's S3 URI"
        )
    if channel.get("CompressionType") not in (None, "None"):
        raise ValidationError(
            f"InputDataConfig[0].CompressionType {channel['CompressionType']!r}: only uncompressed CSV is read"
        )
    problem = p.get("ProblemType")
    if problem is not None and problem not in _PROBLEM:
        raise ValidationError(f"ProblemType {problem!r} is not valid: expected one of {sorted(_PROBLEM)}")
    criteria = (p.get("AutoMLJobConfig") or {}).get("CompletionCriteria") or {}
    data = _csv(fetch(uri, ctx.root / "automl-input" / name, "InputDataConfig[0] S3Uri"), uri)
    objective = (p.get("AutoMLJobObjective") or {}).get("MetricName")
    try:
        automl = AutoML(channel["TargetAttributeName"], problem_type=problem, job_objective=objective,
                        max_candidates=criteria.get("MaxCandidates"),
                        max_runtime_per_training_job_in_seconds=criteria.get("MaxRuntimePerTrainingJobInSeconds"),
                        total_job_runtime_in_seconds=criteria.get("MaxAutoMLJobRuntimeInSeconds"),
                        output_path=ctx.root / "automl")  # fmt: skip
        automl.fit(str(data), job_name=name, wait=False, logs=False, progress=False)
    except (AutoMLError, ValueError, OSError) as e:
        raise ValidationError(str(e)) from None
    ctx.live[f"automl/{name}"] = automl
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc["AutoMLJobArn"] = arn("automl-job", name)
    ctx.state.create(AUTOML, name, doc, "AutoML job")
    return {"AutoMLJobArn": doc["AutoMLJobArn"]}


def _upload_notebooks(
    ctx: Context, name: str, doc: dict[str, Any], artifacts: dict[str, Any]
) -> dict[str, Any]:
    """Copy the notebooks into the job's S3 output path once; the copies' URIs, recorded."""
    if doc.get("Uploaded"):
        return dict(doc["Uploaded"])
    output = str((doc.get("OutputDataConfig") or {}).get("S3OutputPath") or "")
    if not output:
        return artifacts
    with _UPLOAD_LOCK:
        fresh = ctx.state.find(AUTOML, name) or doc
        if fresh.get("Uploaded"):
            return dict(fresh["Uploaded"])
        out: dict[str, Any] = {}
        for key, local in artifacts.items():
            if not local:
                continue
            url = f"{output.rstrip('/')}/{name}/sagemaker-automl-candidates/notebooks/{Path(local).name}"
            target = local_or_none(url)
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
            fs.put_file(local, url if target is None else str(target))
            out[key] = url
        ctx.state.update(AUTOML, name, Uploaded=out)
        return out


def _describe(ctx: Context, doc: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.automl import read_job

    name = doc["AutoMLJobName"]
    live = ctx.live.get(f"automl/{name}")
    try:
        job = live.describe_auto_ml_job() if live is not None else read_job(_job_dir(ctx, name))
    except Exception as e:  # noqa: BLE001 - a job that left no record (server died while it started)
        job = {"AutoMLJobStatus": "Failed", "FailureReason": f"the job's record cannot be read ({e})"}
    if live is None and job.get("AutoMLJobStatus") == "Stopping":  # a previous server stopped as it stopped it
        job = {**job, "AutoMLJobStatus": "Stopped", "AutoMLJobSecondaryStatus": "Stopped"}
    if live is None and job.get("AutoMLJobStatus") == "InProgress":  # its runner died with a previous server
        job = {**job, "AutoMLJobStatus": "Failed", "AutoMLJobSecondaryStatus": "Failed",
               "FailureReason": "the API server restarted while the job ran; create a new job"}  # fmt: skip
    out = {
        **doc,
        **{
            k: v
            for k, v in job.items()
            if k not in ("AutoMLJobArn", "InputDataConfig", "OutputDataConfig", "AutoMLJobConfig")
        },
    }
    out.pop("Uploaded", None)
    out["LastModifiedTime"] = job.get("EndTime") or job.get("CreationTime")
    best = out.get("BestCandidate")
    if best and job.get("BestModelLocation"):
        for c in best.get("InferenceContainers") or []:
            c["ModelDataUrl"] = c.get("ModelDataUrl") or job["BestModelLocation"]
    status = out.get("AutoMLJobStatus")
    if status == "Completed":
        out["AutoMLJobArtifacts"] = _upload_notebooks(ctx, name, doc, out.get("AutoMLJobArtifacts") or {})
    if not out.get("PartialFailureReasons"):
        out.pop("PartialFailureReasons", None)
    return out  # fmt: skip


@operation("DescribeAutoMLJob")
def describe_auto_ml_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _describe(ctx, ctx.state.get(AUTOML, p["AutoMLJobName"], "AutoML job"))


@operation("ListAutoMLJobs")
def list_auto_ml_jobs(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    docs = [_describe(ctx, d) for d in ctx.state.all(AUTOML)]
    rows, token = page(docs, p, name_key="AutoMLJobName", status_key="AutoMLJobStatus")
    keys = ("AutoMLJobName", "AutoMLJobArn", "AutoMLJobStatus", "AutoMLJobSecondaryStatus", "CreationTime",
            "EndTime", "LastModifiedTime", "FailureReason")  # fmt: skip
    return {"AutoMLJobSummaries": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


@operation("StopAutoMLJob")
def stop_auto_ml_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["AutoMLJobName"]
    ctx.state.get(AUTOML, name, "AutoML job")
    live = ctx.live.get(f"automl/{name}")
    if live is not None:
        live.stop(wait=False, reason="StopAutoMLJob was called")
    return {}


def _value(c: dict[str, Any]) -> float | None:
    v = (c.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value")
    return float(v) if isinstance(v, (int, float)) and v == v else None


@operation("ListCandidatesForAutoMLJob")
def list_candidates_for_auto_ml_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["AutoMLJobName"]
    ctx.state.get(AUTOML, name, "AutoML job")
    path = _job_dir(ctx, name) / "candidates.json"
    items: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    if p.get("StatusEquals"):
        items = [c for c in items if c.get("CandidateStatus") == p["StatusEquals"]]
    if p.get("CandidateNameEquals"):
        items = [c for c in items if c.get("CandidateName") == p["CandidateNameEquals"]]
    sort_by = p.get("SortBy") or "CreationTime"
    if sort_by == "FinalObjectiveMetricValue":  # candidates without a value go last, either order
        scored = [c for c in items if _value(c) is not None]
        scored.sort(key=lambda c: _value(c) or 0.0, reverse=p.get("SortOrder", "Descending") == "Descending")
        items = scored + [c for c in items if _value(c) is None]
        rows, token = page(items, {k: p.get(k) for k in ("NextToken", "MaxResults")}, name_key="CandidateName",
                           presorted=True)  # fmt: skip
    else:
        rows, token = page(items, p, name_key="CandidateName", status_key="CandidateStatus")
    return {"Candidates": rows, "NextToken": token}
