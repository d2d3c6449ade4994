"""The SageMaker Python SDK's arguments that have no local meaning, and the SDK v1 spellings that
the SDK v2 renamed: the one place that knows their names.

smdbg's SDK-shaped classes (estimators, processors, ``Model``/``deploy``, AutoML, the model
monitor, the tracker's Experiment/Trial/TrialComponent/Tracker/ExperimentAnalytics) collect the
keywords they do not name with ``**kwargs`` and pass them to :func:`sdk_kwargs`, which

* moves a v1 spelling to its v2 name (``train_instance_count`` -> ``instance_count``) with the
  ``DeprecationWarning`` the SDK v2 gives ("train_instance_count has been renamed in
  sagemaker>=2"), when the class accepts that rename;
* keeps the AWS-only arguments (``sagemaker_session``, ``vpc_config``, ...) aside: a class may
  read one it gives a meaning to (``SdkKwargs.get``), the others are ignored;
* raises :class:`SdkArgumentError` (a ``TypeError``, like Python's own) for any other keyword,
  naming it.

docs/compatibility.md has the table of these arguments and what each class does with them.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smdbg.exceptions import SmdbgError

__all__ = ["AWS_ONLY", "RENAMED", "ESTIMATOR_RENAMES", "SdkArgumentError", "SdkKwargs", "sdk_kwargs"]

T = TypeVar("T")

#: SDK arguments that only mean something on AWS, with what smdbg does with them by default.
AWS_ONLY: Mapping[str, str] = {
    # credentials, clients and sessions: smdbg reaches its own database, files and processes
    "role": "ignored (recorded as RoleArn where a describe() has one); no permission is checked",
    "sagemaker_session": "ignored; smdbg needs no AWS session",
    "sagemaker_boto_client": "ignored (smexperiments); the tracker uses its database (db_url=)",
    "sagemaker_client": "ignored; smdbg needs no SageMaker client",
    "sagemaker_runtime_client": "ignored; predictions go to the local endpoint server",
    "boto3_session": "ignored; s3:// artifacts use the S3 endpoint of the environment",
    "sagemaker_featurestore_runtime_client": "ignored",
    # networking and encryption of AWS resources
    "vpc_config": "ignored: jobs and endpoints run on this machine",
    "subnets": "ignored: jobs run on this machine",
    "security_group_ids": "ignored: jobs run on this machine",
    "network_config": "ignored: jobs run on this machine",
    "enable_network_isolation": "ignored: the network is not isolated (see docs/platform_jobs.md)",
    "encrypt_inter_container_traffic": "ignored: workers talk over 127.0.0.1",
    "kms_key": "ignored: files are written unencrypted (use an encrypted disk or bucket)",
    "volume_kms_key": "ignored: files are written unencrypted",
    "output_kms_key": "ignored: files are written unencrypted",
    "model_kms_key": "ignored: files are written unencrypted",
    # billing, capacity and placement
    "use_spot_instances": "ignored: there are no spot instances here",
    "max_wait": "ignored (goes with use_spot_instances)",
    "volume_size": "recorded as VolumeSizeInGB in describe(); no disk quota is set",
    "volume_size_in_gb": "recorded as VolumeSizeInGB in describe(); no disk quota is set",
    "max_run": "recorded as StoppingCondition.MaxRuntimeInSeconds; not enforced (use stop())",
    "max_runtime_in_seconds": "recorded as StoppingCondition.MaxRuntimeInSeconds; not enforced",
    "accelerator_type": "ignored: Elastic Inference does not exist here",
    "keep_alive_period_in_seconds": "ignored: there are no warm pools",
    "instance_groups": "ignored: one homogeneous group of local workers",
    "distribution": "ignored: with instance_count > 1 each framework's distributed environment is set",
    "tags": "ignored where the class has no tags of its own",
    # AWS-side features with no local counterpart
    "checkpoint_s3_uri": "ignored: checkpoints stay where the script writes them",
    "checkpoint_local_path": "ignored",
    "code_location": "ignored: the code is copied into the job directory",
    "output_path": "ignored: outputs live in the job directory (model_data says where)",
    "container_log_level": "ignored: the worker's log is kept whole",
    "enable_sagemaker_metrics": "ignored: metric_definitions are always evaluated",
    "disable_profiler": "ignored: smdbg has no system profiler",
    "profiler_config": "ignored: smdbg has no system profiler",
    "debugger_rule_configs": "ignored",
    "image_config": "ignored",
    "predictor_cls": "ignored: deploy() returns smdbg's Predictor",
    "model_server_workers": "ignored: one server process per endpoint",
    "async_inference_config": "ignored: endpoints answer synchronously",
    "serverless_inference_config": "ignored: endpoints are server processes",
    "model_data_download_timeout": "ignored: the model is read from local disk",
    "container_startup_health_check_timeout": "ignored: use startup_timeout=",
    "compression_type": "ignored",
    "generate_candidate_definitions_only": "ignored: AutoML always trains its candidates",
    "serializer": "ignored: Predictor.predict takes content_type=/accept=",
    "deserializer": "ignored: Predictor.predict takes content_type=/accept=",
}

#: SDK v1 spellings and their SDK v2 names.
RENAMED: Mapping[str, str] = {
    "train_instance_count": "instance_count",
    "train_instance_type": "instance_type",
    "train_max_run": "max_run",
    "train_use_spot_instances": "use_spot_instances",
    "train_max_wait": "max_wait",
    "train_volume_size": "volume_size",
    "train_volume_kms_key": "volume_kms_key",
    "image_name": "image_uri",
}

#: the renames an estimator accepts (the SDK v2's EstimatorBase and Framework accept these).
ESTIMATOR_RENAMES: tuple[str, ...] = tuple(RENAMED)

_DOCS = "docs/compatibility.md"
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside smdbg, so that a warning names the line of
    the script that passed the argument, however deep the class hierarchy."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    return level


class SdkArgumentError(SmdbgError, TypeError):
    """A keyword argument that is neither the class's own nor a SageMaker SDK argument smdbg
    knows, or an old and a new spelling given together with different values."""


@dataclass(frozen=True)
class SdkKwargs:
    """What :func:`sdk_kwargs` found: ``values`` maps each SDK argument given (under its v2
    name) to its value; ``renamed`` holds the v2 names that were given under a v1 spelling."""

    where: str
    values: dict[str, Any] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: T) -> T | Any:
        """The value given for SDK argument ``name`` (a class that maps it reads it here)."""
        return self.values.get(name, default)

    def pick(self, name: str, given: T, default: T) -> T:
        """The value of a parameter the class names itself (``given``, ``default`` when the caller
        did not pass it) when its v1 spelling may have been used instead."""
        if name not in self.renamed:
            return given
        old = self.renamed[name]
        value: T = self.values[name]
        if given != default and given != value:
            raise SdkArgumentError(
                f"{self.where}() got {old}={value!r} and {name}={given!r}: {old} is the SDK v1 "
                f"spelling of {name}; pass only {name}"
            )
        return value


def sdk_kwargs(
    where: str,
    kwargs: Mapping[str, Any],
    renames: Collection[str] = (),
) -> SdkKwargs:
    """Sort the extra keywords ``kwargs`` of ``where`` (e.g. ``"Estimator"``): v1 spellings in
    ``renames`` are moved to their v2 names with a ``DeprecationWarning``, AWS-only arguments are
    kept, anything else raises :class:`SdkArgumentError` naming the keyword."""
    values: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for key, value in kwargs.items():
        if key in RENAMED and key in renames:
            new = RENAMED[key]
            warnings.warn(
                f"{key} has been renamed in sagemaker>=2 (and in smdbg): use {new}= "
                f"(see {_DOCS})",
                DeprecationWarning,
                stacklevel=_caller_stacklevel(),
            )
            if new in kwargs and kwargs[new] != value:
                raise SdkArgumentError(
                    f"{where}() got {key}={value!r} and {new}={kwargs[new]!r}: {key} is the SDK v1 "
                    f"spelling of {new}; pass only {new}"
                )
            values[new] = value
            renamed[new] = key
        elif key in AWS_ONLY:
            values.setdefault(key, value)
        else:
            hint = (
                f" ({key} is an SDK v1 spelling of {RENAMED[key]}, which {where} does not take)"
                if key in RENAMED
                else ""
            )
            raise SdkArgumentError(
                f"{where}() got an unexpected keyword argument {key!r}{hint}: expected one of its "
                f"own parameters or a SageMaker SDK argument listed in {_DOCS}"
            )
    return SdkKwargs(where, values, renamed)
