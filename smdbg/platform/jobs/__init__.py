"""Platform jobs: estimators (training jobs) and processing jobs on a local, Docker or Ray backend.

::

    from smdbg.platform.jobs import PyTorch, SKLearnProcessor, ProcessingInput, ProcessingOutput
    est = PyTorch("train.py", source_dir="src", hyperparameters={"epochs": 2},
                  metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}])
    est.fit({"train": "data/"}, experiment_config={"ExperimentName": "e", "TrialName": "t"})

State lives under ``$SMDBG_HOME/jobs/<job_name>/`` (default ``~/.smdbg``). See docs/platform_jobs.md.
"""

from __future__ import annotations

from smdbg.platform.jobs._backend import Backend, Mount, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._docker import DEFAULT_IMAGE, DockerBackend
from smdbg.platform.jobs._errors import (
    DockerUnavailableError,
    IsolationUnavailableError,
    JobError,
    JobFailedError,
    JobNotFound,
    RayClusterError,
)
from smdbg.platform.jobs._estimator import Estimator, TrainingJob
from smdbg.platform.jobs._frameworks import MXNet, PyTorch, SKLearn, TensorFlow
from smdbg.platform.jobs._instances import INSTANCE_TYPES, InstanceType, resolve_instance_type
from smdbg.platform.jobs._job import Job, describe_job, job_logs, list_jobs, stop_job
from smdbg.platform.jobs._local import LocalBackend, can_isolate
from smdbg.platform.jobs._processing import (
    ProcessingInput,
    ProcessingJob,
    ProcessingOutput,
    Processor,
    ScriptProcessor,
    SKLearnProcessor,
)
from smdbg.platform.jobs._ray import RayBackend

__all__ = [
    "Estimator", "PyTorch", "TensorFlow", "MXNet", "SKLearn", "TrainingJob",
    "Processor", "ScriptProcessor", "SKLearnProcessor", "ProcessingInput", "ProcessingOutput", "ProcessingJob",
    "Job", "describe_job", "list_jobs", "stop_job", "job_logs",
    "Backend", "LocalBackend", "DockerBackend", "RayBackend", "WorkerSpec", "WorkerHandle", "Mount", "can_isolate",
    "INSTANCE_TYPES", "InstanceType", "resolve_instance_type", "DEFAULT_IMAGE",
    "JobError", "JobNotFound", "JobFailedError", "DockerUnavailableError", "IsolationUnavailableError",
    "RayClusterError",
]  # fmt: skip
