"""Processing jobs: a command run with inputs and outputs mapped into ``/opt/ml/processing``.

Each instance gets its own ``/opt/ml`` tree (``hosts/<host>/ml`` in the job directory) with
``config/processingjobconfig.json`` and ``config/resourceconfig.json``; inputs are placed at their
destinations (``ShardedByS3Key`` deals the files out across instances, in name order), and at
the end each output's directory is copied to its destination (local path or ``s3://``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smdbg._sdk_args import sdk_kwargs
from smdbg._secrets import redact_env
from smdbg.platform.jobs._backend import Mount, WorkerSpec
from smdbg.platform.jobs._contract import resource_config
from smdbg.platform.jobs._docker import DEFAULT_IMAGE
from smdbg.platform.jobs._env import check_allowlist
from smdbg.platform.jobs._errors import JobError
from smdbg.platform.jobs._estimator import base_env, choose_backend, ray_options, split_remote
from smdbg.platform.jobs._instances import positive_int, resolve_instance_type
from smdbg.platform.jobs._job import Job, launch
from smdbg.platform.jobs._outputs import list_source_files, place_files
from smdbg.platform.jobs._state import job_dir, make_job_dir, new_job_name, validate_job_name
from smdbg.platform.jobs._supervisor import make_backend
from smdbg.platform.jobs._tracking import validate_experiment_config

__all__ = [
    "ProcessingInput",
    "ProcessingOutput",
    "Processor",
    "ScriptProcessor",
    "SKLearnProcessor",
    "ProcessingJob",
]

PROCESSING_ROOT = "/opt/ml/processing"
_DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")


def _check_container_path(path: str, what: str) -> str:
    norm = os.path.normpath(path)
    if not norm.startswith(PROCESSING_ROOT + "/"):
        raise ValueError(
            f"{what} {path!r}: expected a path under {PROCESSING_ROOT}/ (e.g. {PROCESSING_ROOT}/input/data)"
        )
    return norm


@dataclass
class ProcessingInput:
    source: str
    destination: str | None = None
    input_name: str | None = None
    s3_data_distribution_type: str = "FullyReplicated"

    def __post_init__(self) -> None:
        if self.s3_data_distribution_type not in _DISTRIBUTIONS:
            raise ValueError(
                f"s3_data_distribution_type={self.s3_data_distribution_type!r}: expected one of {', '.join(_DISTRIBUTIONS)}"
            )


@dataclass
class ProcessingOutput:
    source: str
    destination: str | None = None
    output_name: str | None = None


class ProcessingJob(Job):
    """A live handle on a processing job."""

    def __init__(
        self,
        job_name: str,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
    ) -> None:
        super().__init__(job_name)
        self.inputs = inputs or []
        self.outputs = outputs or []


class Processor:
    """Runs ``command`` (or ``entrypoint``) with ``arguments`` on ``instance_count`` instances.

    ``python``/``python3`` as the first word means this interpreter (the one with smdbg and the
    project's packages), on both backends."""

    def __init__(
        self,
        image_uri: str | None = None,
        command: Sequence[str] | None = None,
        instance_count: int = 1,
        instance_type: str = "local",
        env: Mapping[str, str] | None = None,
        *,
        role: str | None = None,
        entrypoint: Sequence[str] | None = None,
        backend: str | None = None,
        base_job_name: str | None = None,
        stop_grace_s: float = 10.0,
        env_allowlist: Sequence[str] | None = None,
        ray_address: str | None = None,
        **kwargs: Any,
    ) -> None:
        sdk = sdk_kwargs(type(self).__name__, kwargs)
        positive_int(instance_count, "instance_count")
        self.volume_size = positive_int(sdk.get("volume_size_in_gb", 30), "volume_size_in_gb")
        self.max_run = positive_int(sdk.get("max_runtime_in_seconds", 86400), "max_runtime_in_seconds")
        #: the SageMaker SDK arguments given; see docs/compatibility.md
        self.sdk_arguments = sdk.values
        self.image_uri = image_uri
        self.command = list(command or entrypoint or [])
        if not self.command:
            raise ValueError("Processor needs a command (e.g. command=['python3']) or an entrypoint")
        self.instance_count = instance_count
        self.instance_type = resolve_instance_type(instance_type).name
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.env_allowlist = check_allowlist(env_allowlist)
        self.role = role
        self.backend = choose_backend(
            backend, image_uri if backend is None and type(self) is Processor else None
        )
        self.ray = ray_options(self.backend, ray_address)
        self.base_job_name = base_job_name
        self.stop_grace_s = stop_grace_s
        self.jobs: list[ProcessingJob] = []
        self.latest_job: ProcessingJob | None = None

    def _argv(self, code: str | None, arguments: Sequence[str] | None) -> list[str]:
        cmd = list(self.command)
        if cmd[0] in ("python", "python3"):
            cmd[0] = sys.executable
        if code is not None:
            cmd.append(f"{PROCESSING_ROOT}/input/code/{os.path.basename(code)}")
        return cmd + [str(a) for a in (arguments or [])]

    def run(
        self,
        code: str | None = None,
        inputs: Sequence[ProcessingInput] | None = None,
        outputs: Sequence[ProcessingOutput] | None = None,
        arguments: Sequence[str] | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
        experiment_config: Mapping[str, str] | None = None,
    ) -> None:
        name = validate_job_name(job_name) if job_name else new_job_name(self.base_job_name or "processing")
        exp = validate_experiment_config(experiment_config)
        ins = list(inputs or [])
        if code is not None:
            if not Path(code).is_file():
                raise FileNotFoundError(
                    f"code {code!r} does not exist; expected the processing script's path"
                )
            ins.append(ProcessingInput(str(Path(code).resolve()), f"{PROCESSING_ROOT}/input/code", "code"))
        outs = list(outputs or [])
        resolved = []
        for i, inp in enumerate(ins):
            inp.input_name = inp.input_name or f"input-{i + 1}"
            inp.destination = _check_container_path(
                inp.destination or f"{PROCESSING_ROOT}/input/{inp.input_name}",
                f"input {inp.input_name!r} destination",
            )
            resolved.append(
                (inp, list_source_files(inp.source, f"input {inp.input_name!r}"))
            )  # missing input fails now
        directory = job_dir(name)
        if directory.exists():
            raise JobError(
                f"a job named {name!r} already exists under {directory.parent}; pick another job_name"
            )
        for i, out in enumerate(outs):
            out.output_name = out.output_name or f"output-{i + 1}"
            out.source = _check_container_path(out.source, f"output {out.output_name!r} source")
            out.destination = out.destination or str(directory / "output" / out.output_name)
        backend = make_backend(self.backend, self.image_uri, self.ray)
        hosts = [f"algo-{i + 1}" for i in range(self.instance_count)]
        instance = resolve_instance_type(self.instance_type)
        argv = self._argv(code, arguments)
        description = self._description(name, argv, ins, outs, exp)
        workers = []
        for host in hosts:
            env = (
                base_env(backend, self.env_allowlist)
                | {"PYTHONUNBUFFERED": "1", "SMDBG_TRIAL_COMPONENT_NAME": f"{name}-processing-job"}
                | self.env
            )
            ml = directory / "hosts" / host / "ml"
            workers.append(WorkerSpec(name, host, argv, env, "/", instance, [Mount(str(ml), "/opt/ml")], str(directory)))
        placed = []
        for rank, host in enumerate(hosts):
            mine_all = []
            for inp, files in resolved:
                mine = files[rank :: len(hosts)] if inp.s3_data_distribution_type == "ShardedByS3Key" else files
                where = f"hosts/{host}/ml/{os.path.relpath(str(inp.destination), '/opt/ml')}"
                local, fetch = split_remote(mine, where, self.backend == "ray")
                workers[rank].fetch += fetch
                if inp.input_name != "code" and any(not loc.startswith("s3://") for _, loc in files):
                    workers[rank].local_inputs.append(f"input {inp.input_name!r}: {inp.source}")
                mine_all.append(local)
            placed.append(mine_all)
        backend.check(workers)

        make_job_dir(name)
        for rank, host in enumerate(hosts):
            ml = directory / "hosts" / host / "ml"
            (ml / "config").mkdir(parents=True, exist_ok=True)
            (ml / "config" / "processingjobconfig.json").write_text(
                json.dumps(_public(description), indent=1)
            )
            (ml / "config" / "resourceconfig.json").write_text(json.dumps(resource_config(host, hosts)))
            for (inp, _files), mine in zip(resolved, placed[rank], strict=True):
                target = ml / os.path.relpath(str(inp.destination), "/opt/ml")
                target.mkdir(parents=True, exist_ok=True)
                place_files(mine, target)
            for out in outs:
                (ml / os.path.relpath(out.source, "/opt/ml")).mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": "processing",
            "name": name,
            "backend": self.backend,
            "image": self.image_uri,
            "workers": [w.to_spec() for w in workers],
            "experiment_config": exp,
            "trial_component_name": f"{name}-processing-job",
            "job_parameters": {
                "InstanceType": self.instance_type,
                "InstanceCount": float(self.instance_count),
            },
            "input_artifacts": {i.input_name: i.source for i in ins},
            "output_artifacts": {o.output_name: o.destination for o in outs},
            "outputs": [
                {
                    "name": o.output_name,
                    "source": o.source,
                    "destination": o.destination,
                    "host_dirs": [
                        str(directory / "hosts" / h / "ml" / os.path.relpath(o.source, "/opt/ml"))
                        for h in hosts
                    ],
                }
                for o in outs
            ],  # fmt: skip
            "failure_files": {},
            "stop_grace_s": self.stop_grace_s,
            "ray": self.ray,
        }
        launch(spec, description)
        job = ProcessingJob(name, ins, outs)
        self.jobs.append(job)
        self.latest_job = job
        if wait:
            job.wait(logs=logs)

    def _description(self, name: str, argv: list[str], ins: list[ProcessingInput], outs: list[ProcessingOutput],
                     exp: dict[str, str] | None) -> dict[str, Any]:  # fmt: skip
        desc: dict[str, Any] = {
            "ProcessingJobName": name,
            "ProcessingJobArn": f"arn:smdbg:local:processing-job/{name}",
            "AppSpecification": {"ImageUri": self.image_uri or ("local" if self.backend == "local" else DEFAULT_IMAGE),
                                 "ContainerEntrypoint": argv[: len(self.command)], "ContainerArguments": argv[len(self.command) :]},
            "Environment": redact_env(self.env),
            "ProcessingInputs": [
                {"InputName": i.input_name, "AppManaged": False,
                 "S3Input": {"S3Uri": i.source, "LocalPath": i.destination, "S3DataType": "S3Prefix", "S3InputMode": "File",
                             "S3DataDistributionType": i.s3_data_distribution_type}}
                for i in ins
            ],
            "ProcessingOutputConfig": {"Outputs": [
                {"OutputName": o.output_name, "AppManaged": False,
                 "S3Output": {"S3Uri": o.destination, "LocalPath": o.source, "S3UploadMode": "EndOfJob"}}
                for o in outs
            ]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": self.instance_count, "InstanceType": self.instance_type, "VolumeSizeInGB": self.volume_size}},
            "RoleArn": self.role,
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
        }  # fmt: skip
        if exp:
            desc["ExperimentConfig"] = exp
        return desc


def _public(desc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desc.items() if not k.startswith("_")}


class ScriptProcessor(Processor):
    """Runs ``code`` with ``command`` (e.g. ``['python3']``); the image defaults to smdbg's base image."""

    def __init__(self, image_uri: str | None = None, command: Sequence[str] = ("python3",), instance_count: int = 1,
                 instance_type: str = "local", env: Mapping[str, str] | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(image_uri, command, instance_count, instance_type, env, **kwargs)


class SKLearnProcessor(ScriptProcessor):
    """A scikit-learn processing job: this interpreter's scikit-learn runs ``code``."""

    def __init__(self, framework_version: str | None = None, role: str | None = None, instance_type: str = "local",
                 instance_count: int = 1, env: Mapping[str, str] | None = None, **kwargs: Any) -> None:  # fmt: skip
        # the SageMaker SDK's positional order: framework_version, role, instance_type, instance_count
        self.framework_version = framework_version
        super().__init__(
            kwargs.pop("image_uri", None),
            ["python3"],
            instance_count,
            instance_type,
            env,
            role=role,
            **kwargs,
        )
