"""Training and processing jobs on :mod:`smdbg.platform.jobs` (local backend).

Images are not pulled: a training job's code is ``HyperParameters["sagemaker_program"]`` inside
``HyperParameters["sagemaker_submit_directory"]`` (an ``s3://`` or ``file://`` ``sourcedir.tar.gz``
or folder), as the SageMaker SDK sets them; or ``AlgorithmSpecification.TrainingImage`` is a
``file://`` URL or path of the script itself. An image name containing ``pytorch`` /
``tensorflow`` picks that estimator (its distributed-training environment). A processing job runs
``AppSpecification.ContainerEntrypoint`` + ``ContainerArguments`` (``python3`` is smdbg's
interpreter) with its inputs at their ``LocalPath``. When a training job completes, ``/opt/ml/model``
is packed as ``model.tar.gz`` under ``OutputDataConfig.S3OutputPath/<job>/output/``.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

from smdbg import fs
from smdbg.platform.api._data import fetch, local_or_none
from smdbg.platform.api._protocol import ApiError, InUse, ValidationError
from smdbg.platform.api._registry import Context, new_name, operation, page
from smdbg.platform.api._state import arn

__all__ = ["training_job_docs"]

TRAINING, PROCESSING = "training-job", "processing-job"
_PACK_LOCK = threading.Lock()
_LIVE = ("TrainingJobStatus", "ProcessingJobStatus", "SecondaryStatus", "FailureReason", "CreationTime",
         "LastModifiedTime", "TrainingStartTime", "TrainingEndTime", "ProcessingStartTime", "ProcessingEndTime",
         "FinalMetricDataList", "DebugRuleEvaluationStatuses", "ExitMessage")  # fmt: skip


def _job_error(e: Exception) -> ApiError:
    from smdbg.platform.jobs import JobError

    if isinstance(e, JobError) and "already exists" in str(e):
        return InUse(str(e))
    return ValidationError(f"{type(e).__name__}: {e}")


def _hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """The SDK JSON-encodes every value (``'"train.py"'``, ``'3'``); decode what decodes."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def _code(ctx: Context, name: str, spec: dict[str, Any], hps: dict[str, Any]) -> tuple[str, str | None]:
    """(entry point, source dir) of a training job, from the SDK's hyperparameters or the image."""
    program, submit = hps.pop("sagemaker_program", None), hps.pop("sagemaker_submit_directory", None)
    if program:
        if not submit:
            return str(program), None
        source = fetch(str(submit), ctx.root / "training" / name / "download", "sagemaker_submit_directory")
        if source.is_file() and source.name.endswith((".tar.gz", ".tgz")):
            out = ctx.workdir("training", name, "code")
            with tarfile.open(source) as tar:
                tar.extractall(out, filter="data")
            source = out
        return str(program), str(source)
    image = str(spec.get("TrainingImage") or "")
    local = local_or_none(image) if image.startswith(("file://", "/", ".")) else None
    if local is None or not local.is_file():
        raise ValidationError(
            f"AlgorithmSpecification.TrainingImage {image!r} names no script and HyperParameters has no "
            "sagemaker_program: smdbg runs code, not images; give sagemaker_program (+ sagemaker_submit_directory) "
            "or a file:// path of the training script as the image"
        )
    return local.name, str(local.parent)


@operation("CreateTrainingJob")
def create_training_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.jobs import Estimator, PyTorch, TensorFlow

    name = new_name(ctx, TRAINING, p, "TrainingJobName", "training job")
    spec = p["AlgorithmSpecification"]
    hps = _hyperparameters(p.get("HyperParameters") or {})
    entry, source = _code(ctx, name, spec, hps)
    hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    image = str(spec.get("TrainingImage") or "").lower()
    cls = PyTorch if "pytorch" in image else TensorFlow if "tensorflow" in image else Estimator
    channels = {c["ChannelName"]: c["DataSource"].get("S3DataSource", {}).get("S3Uri")
                or c["DataSource"].get("FileSystemDataSource", {}).get("DirectoryPath") for c in p.get("InputDataConfig") or []}  # fmt: skip
    resources = p["ResourceConfig"]
    try:
        est = cls(entry, source_dir=source, hyperparameters=hps, metric_definitions=spec.get("MetricDefinitions"),
                  instance_count=resources.get("InstanceCount", 1), instance_type=resources.get("InstanceType", "local"),
                  environment=p.get("Environment"), role=p.get("RoleArn"), debugger_hook_config=_hook(p))  # fmt: skip
        est.fit(channels or None, job_name=name, experiment_config=_experiment(p), wait=False, logs=False)
    except Exception as e:  # noqa: BLE001 - the front end's checks (ValueError, FileNotFoundError, JobError...)
        raise _job_error(e) from None
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc["TrainingJobArn"] = arn("training-job", name)
    ctx.state.create(TRAINING, name, doc, "training job")
    return {"TrainingJobArn": doc["TrainingJobArn"]}


def _hook(p: dict[str, Any]) -> dict[str, Any] | None:
    hook = p.get("DebugHookConfig")
    return (
        {k: v for k, v in hook.items() if k in ("HookParameters", "CollectionConfigurations")}
        if hook
        else None
    )


def _experiment(p: dict[str, Any]) -> dict[str, str] | None:
    exp = p.get("ExperimentConfig") or {}
    return {
        k: v for k, v in exp.items() if k in ("ExperimentName", "TrialName", "TrialComponentDisplayName")
    } or None


def _model_artifacts(ctx: Context, name: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    """Pack ``/opt/ml/model`` as model.tar.gz into the output path once the job completed."""
    from smdbg.platform.jobs._state import job_dir

    if doc.get("ModelArtifacts"):
        return dict(doc["ModelArtifacts"])
    output = (doc.get("OutputDataConfig") or {}).get("S3OutputPath")
    if not output:
        return None
    with _PACK_LOCK:
        fresh = ctx.state.find(TRAINING, name) or doc
        if fresh.get("ModelArtifacts"):
            return dict(fresh["ModelArtifacts"])
        url = f"{output.rstrip('/')}/{name}/output/model.tar.gz"
        model = job_dir(name) / "ml" / "model"
        with tempfile.TemporaryDirectory(dir=ctx.root) as tmp:
            tar_path = Path(tmp) / "model.tar.gz"
            with tarfile.open(tar_path, "w:gz") as tar:
                for f in sorted(model.rglob("*")) if model.is_dir() else ():
                    if f.is_file() and not f.is_symlink():
                        tar.add(f, arcname=str(f.relative_to(model)))
            local = local_or_none(url)
            if local is not None:
                local.parent.mkdir(parents=True, exist_ok=True)
            fs.put_file(tar_path, url if local is None else str(local))
        artifacts = {"S3ModelArtifacts": url}
        ctx.state.update(TRAINING, name, ModelArtifacts=artifacts)
        return artifacts


def _describe_training(ctx: Context, doc: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.jobs import describe_job

    live = describe_job(doc["TrainingJobName"])
    out = {**doc, **{k: live[k] for k in _LIVE if k in live}}
    if out.get("TrainingJobStatus") == "Completed":
        artifacts = _model_artifacts(ctx, doc["TrainingJobName"], doc)
        if artifacts:
            out["ModelArtifacts"] = artifacts
    return out


@operation("DescribeTrainingJob")
def describe_training_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _describe_training(ctx, ctx.state.get(TRAINING, p["TrainingJobName"], "training job"))


def training_job_docs(ctx: Context) -> list[dict[str, Any]]:
    return [_describe_training(ctx, d) for d in ctx.state.all(TRAINING)]


@operation("ListTrainingJobs")
def list_training_jobs(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rows, token = page(training_job_docs(ctx), p, name_key="TrainingJobName", status_key="TrainingJobStatus")
    keys = (
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingJobStatus",
    )
    return {"TrainingJobSummaries": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


def _stop(ctx: Context, kind: str, name: str, what: str) -> dict[str, Any]:
    """Stop a job: it shows ``Stopping`` at once and ends ``Stopped``, also when the stop comes
    while its supervisor is still starting (:func:`smdbg.platform.jobs.stop_job`)."""
    from smdbg.platform.jobs import stop_job

    ctx.state.get(kind, name, what)
    stop_job(name, wait=False)
    return {}


@operation("StopTrainingJob")
def stop_training_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _stop(ctx, TRAINING, p["TrainingJobName"], "training job")


# -- processing ------------------------------------------------------------------------------
@operation("CreateProcessingJob")
def create_processing_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.jobs import ProcessingInput, ProcessingOutput, Processor

    name = new_name(ctx, PROCESSING, p, "ProcessingJobName", "processing job")
    app = p["AppSpecification"]
    entry = list(app.get("ContainerEntrypoint") or [])
    if not entry:
        raise ValidationError(
            "AppSpecification.ContainerEntrypoint is empty: smdbg runs commands, not images; give the "
            "command, e.g. ['python3', '/opt/ml/processing/input/code/preprocess.py']"
        )
    cluster = p["ProcessingResources"]["ClusterConfig"]
    ins = [ProcessingInput(i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"], i["InputName"],
                           i["S3Input"].get("S3DataDistributionType", "FullyReplicated"))
           for i in p.get("ProcessingInputs") or [] if i.get("S3Input")]  # fmt: skip
    outs = [ProcessingOutput(o["S3Output"]["LocalPath"], o["S3Output"]["S3Uri"], o["OutputName"])
            for o in (p.get("ProcessingOutputConfig") or {}).get("Outputs", []) if o.get("S3Output")]  # fmt: skip
    try:
        proc = Processor(command=entry, instance_count=cluster["InstanceCount"], instance_type=cluster["InstanceType"],
                         env=p.get("Environment"), role=p.get("RoleArn"))  # fmt: skip
        proc.run(inputs=ins, outputs=outs, arguments=app.get("ContainerArguments"), wait=False, logs=False,
                 job_name=name, experiment_config=_experiment(p))  # fmt: skip
    except Exception as e:  # noqa: BLE001 - the front end's checks
        raise _job_error(e) from None
    doc = {k: v for k, v in p.items() if k != "Tags"}
    doc["ProcessingJobArn"] = arn("processing-job", name)
    ctx.state.create(PROCESSING, name, doc, "processing job")
    return {"ProcessingJobArn": doc["ProcessingJobArn"]}


def _describe_processing(doc: dict[str, Any]) -> dict[str, Any]:
    from smdbg.platform.jobs import describe_job

    live = describe_job(doc["ProcessingJobName"])
    return {**doc, **{k: live[k] for k in _LIVE if k in live}}


@operation("DescribeProcessingJob")
def describe_processing_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _describe_processing(ctx.state.get(PROCESSING, p["ProcessingJobName"], "processing job"))


@operation("ListProcessingJobs")
def list_processing_jobs(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    docs = [_describe_processing(d) for d in ctx.state.all(PROCESSING)]
    rows, token = page(docs, p, name_key="ProcessingJobName", status_key="ProcessingJobStatus")
    keys = ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime", "LastModifiedTime",
            "ProcessingJobStatus", "FailureReason", "ExitMessage")  # fmt: skip
    return {"ProcessingJobSummaries": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


@operation("StopProcessingJob")
def stop_processing_job(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _stop(ctx, PROCESSING, p["ProcessingJobName"], "processing job")
