"""Estimators: a training script run as a job, with SageMaker's names and semantics."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smdbg import _settings
from smdbg._sdk_args import ESTIMATOR_RENAMES, sdk_kwargs
from smdbg._secrets import redact_env
from smdbg.platform.jobs._backend import Backend, Mount, WorkerSpec
from smdbg.platform.jobs._contract import ML_ROOT, hp_args, hp_string, training_env, write_training_tree
from smdbg.platform.jobs._debugger import (
    HOOK_CONFIG_NAME,
    check_rules,
    hook_config_json,
    rule_job_argv,
    rule_summary,
)
from smdbg.platform.jobs._env import caller_env, check_allowlist
from smdbg.platform.jobs._errors import RayClusterError
from smdbg.platform.jobs._instances import positive_int, resolve_instance_type
from smdbg.platform.jobs._job import Job, launch
from smdbg.platform.jobs._metrics import compile_metric_definitions
from smdbg.platform.jobs._outputs import list_source_files, place_files
from smdbg.platform.jobs._state import job_dir, make_job_dir, new_job_name, read_job, validate_job_name
from smdbg.platform.jobs._supervisor import make_backend
from smdbg.platform.jobs._tracking import validate_experiment_config

__all__ = ["Estimator", "TrainingJob", "choose_backend", "base_env"]


def choose_backend(backend: str | None, image_uri: str | None) -> str:
    name = backend or ("docker" if image_uri else _settings.JOBS_BACKEND.get() or "local")
    if name not in ("local", "docker", "ray"):
        raise ValueError(f"backend={name!r}: expected 'local', 'docker' or 'ray'")
    return name


def ray_options(backend: str, ray_address: str | None) -> dict[str, Any] | None:
    """The spec's ``ray`` section (the Ray backend's options), or None for other backends."""
    if backend != "ray":
        if ray_address is not None:
            raise ValueError(f"ray_address={ray_address!r} is given but backend={backend!r}; pass backend='ray'")
        return None
    from smdbg.platform.jobs._raycluster import resolve_address

    return {"address": resolve_address(ray_address)}


def split_remote(files: list[tuple[str, str]], target: str, on_ray: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(files to place in the job folder now, (target/rel, url) the Ray hosts download)``:
    on Ray, ``s3://`` files are fetched on each host's node instead of through this machine."""
    if not on_ray:
        return files, []
    local = [(rel, loc) for rel, loc in files if not loc.startswith("s3://")]
    return local, [(f"{target}/{rel}", loc) for rel, loc in files if loc.startswith("s3://")]


def base_env(backend: Backend, allowlist: Sequence[str] = ()) -> dict[str, str]:
    """What a worker inherits from this process: the few variables every program needs and the
    allowlisted ones (see :mod:`smdbg.platform.jobs._env`), with a ``HOME`` it can write."""
    return caller_env(allowlist) | {"HOME": backend.worker_home}


def launcher_available() -> bool:
    """Whether ``smdbg run`` (the zero-code-change PyTorch launcher) can instrument a script here."""
    from importlib.util import find_spec

    return find_spec("torch") is not None and find_spec("smdbg.launch_cli") is not None


def launcher_argv(config: str) -> list[str]:
    """``smdbg run --config CONFIG`` without loading the other CLI commands; the script follows."""
    return [sys.executable, "-m", "smdbg.launch_cli", "--config", config]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TrainingJob(Job):
    """A live handle on a training job."""

    def _private(self) -> dict[str, Any]:
        return dict(read_job(self.job_name, self.home).get("_smdbg", {}))

    def rule_job_summary(self) -> list[dict[str, Any]]:
        """Each rule's evaluation status (``RuleConfigurationName``, ``RuleEvaluationStatus``, ...)."""
        p = self._private()
        rules = p.get("rules") or []
        if not rules:
            return []
        return rule_summary(p["debugger_trial"], self.job_dir, rules, p.get("rule_exit_codes") or {})

    def describe(self) -> dict[str, Any]:
        desc = super().describe()
        if desc.get("DebugRuleConfigurations"):
            desc["DebugRuleEvaluationStatuses"] = self.rule_job_summary()
        return desc


class Estimator:
    """Runs ``entry_point`` as a training job. ``instance_type`` maps to CPU/memory limits
    (see ``INSTANCE_TYPES``); ``image_uri`` (or ``backend='docker'``) runs it in containers."""

    framework: str | None = None
    #: run the entry point under ``smdbg run`` when there is a hook config (PyTorch scripts)
    zero_code_change: bool = False

    def __init__(
        self,
        entry_point: str,
        source_dir: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        metric_definitions: Sequence[Mapping[str, str]] | None = None,
        instance_count: int = 1,
        instance_type: str = "local",
        image_uri: str | None = None,
        environment: Mapping[str, str] | None = None,
        rules: Sequence[Any] | None = None,
        debugger_hook_config: Mapping[str, Any] | None = None,
        role: str | None = None,
        *,
        backend: str | None = None,
        base_job_name: str | None = None,
        rule_actions: Sequence[str] = (),
        stop_grace_s: float = 10.0,
        framework_version: str | None = None,
        py_version: str | None = None,
        env_allowlist: Sequence[str] | None = None,
        ray_address: str | None = None,
        **kwargs: Any,
    ) -> None:
        sdk = sdk_kwargs(type(self).__name__, kwargs, ESTIMATOR_RENAMES)
        instance_count = sdk.pick("instance_count", instance_count, 1)
        instance_type = sdk.pick("instance_type", instance_type, "local")
        image_uri = sdk.pick("image_uri", image_uri, None)
        base = Path(source_dir).expanduser().resolve() if source_dir else None
        if base is not None and not base.is_dir():
            raise FileNotFoundError(
                f"source_dir {source_dir!r} is not a directory; expected the script's folder"
            )
        script = (base / entry_point) if base else Path(entry_point).expanduser().resolve()
        if not script.is_file():
            raise FileNotFoundError(
                f"entry_point {entry_point!r} does not exist (looked for {script}); expected a script"
                + (" inside source_dir" if base else " path")
            )
        positive_int(instance_count, "instance_count")
        self.entry_point = entry_point if base else script.name
        self.source_dir = str(base) if base else None
        self._script = script
        self.hyperparameters = dict(hyperparameters or {})
        self.metric_definitions = [dict(d) for d in (metric_definitions or [])]
        self._metrics = compile_metric_definitions(self.metric_definitions)
        self.instance_count = instance_count
        self.instance_type = resolve_instance_type(instance_type).name
        self.image_uri = image_uri
        self.environment = {str(k): str(v) for k, v in (environment or {}).items()}
        self.env_allowlist = check_allowlist(env_allowlist)
        self.rules = check_rules(rules)
        self.debugger_hook_config = dict(debugger_hook_config) if debugger_hook_config else None
        self.role = role
        self.backend = choose_backend(backend, image_uri)
        self.ray = ray_options(self.backend, ray_address)
        self.base_job_name = base_job_name
        self.rule_actions = list(rule_actions)
        if self.rule_actions:  # a malformed notify URL fails here, not in the rule job
            from smdbg.rules import parse_action

            for action in self.rule_actions:
                parse_action(action)
        self.stop_grace_s = stop_grace_s
        self.framework_version = framework_version
        self.py_version = py_version
        self.volume_size = positive_int(sdk.get("volume_size", 30), "volume_size")
        self.max_run = positive_int(sdk.get("max_run", 86400), "max_run")
        #: the SageMaker SDK arguments given (under their v2 names); see docs/compatibility.md
        self.sdk_arguments = sdk.values
        self.latest_training_job: TrainingJob | None = None

    # -- framework specifics (overridden) ----------------------------------------------------------
    def _distributed_env(self, rank: int, world: int, port: int) -> dict[str, str]:
        return {}

    # -- running -----------------------------------------------------------------------------------
    def _channels(self, inputs: str | Mapping[str, str] | None) -> dict[str, list[tuple[str, str]]]:
        if inputs is None:
            return {}
        mapping = {"training": inputs} if isinstance(inputs, str | os.PathLike) else dict(inputs)
        return {str(c): list_source_files(str(src), f"input channel {c!r}") for c, src in mapping.items()}

    def fit(
        self,
        inputs: str | Mapping[str, str] | None = None,
        job_name: str | None = None,
        experiment_config: Mapping[str, str] | None = None,
        wait: bool = True,
        logs: bool = True,
    ) -> None:
        name = (
            validate_job_name(job_name)
            if job_name
            else new_job_name(self.base_job_name or self.framework or "training")
        )
        exp = validate_experiment_config(experiment_config)
        channels = self._channels(inputs)  # a missing input fails here, before anything is written
        backend = make_backend(self.backend, self.image_uri, self.ray)
        hosts = [f"algo-{i + 1}" for i in range(self.instance_count)]
        directory = job_dir(name)
        if directory.exists():
            from smdbg.platform.jobs._errors import JobError

            raise JobError(
                f"a job named {name!r} already exists under {directory.parent}; pick another job_name"
            )
        ml = directory / "ml"
        inside = backend.presents_container_paths
        root = ML_ROOT if inside else str(ml)
        hook_doc = None
        if self.rules or self.debugger_hook_config:
            hook_doc = hook_config_json(self._trial_path(name, root), self.rules, self.debugger_hook_config)
        workers = self._workers(name, directory, hosts, root, inside, list(channels), hook_doc, backend)
        placed: dict[str, list[tuple[str, str]]] = {}
        for c, files in channels.items():
            placed[c], fetch = split_remote(files, f"ml/input/data/{c}", self.backend == "ray")
            for w in workers:
                w.fetch += fetch
                w.local_inputs += [f"channel {c!r}: {placed[c][0][1]}"] if placed[c] else []
        backend.check(workers)

        make_job_dir(name)
        write_training_tree(ml, self.hyperparameters, list(channels), hosts)
        for c, files in placed.items():
            place_files(files, ml / "input" / "data" / c)
        if self.source_dir:
            shutil.copytree(self.source_dir, ml / "code", dirs_exist_ok=True)
        else:
            shutil.copy2(self._script, ml / "code" / self._script.name)
        if hook_doc is not None:
            (ml / "input" / "config" / HOOK_CONFIG_NAME).write_text(json.dumps(hook_doc, indent=1))
        for h in hosts:
            (directory / "hosts" / h).mkdir(parents=True, exist_ok=True)
            from smdbg.platform.jobs._contract import resource_config

            (directory / "hosts" / h / "resourceconfig.json").write_text(
                json.dumps(resource_config(h, hosts))
            )

        trial = str(hook_doc["LocalPath"]) if hook_doc and self.backend == "ray" else str(ml / "output" / "tensors")
        spec = self._spec(name, workers, exp, channels, trial if hook_doc else None)
        desc = self._description(name, ml, channels, exp, hook_doc)
        launch(spec, desc)
        from smdbg.platform.jobs._state import update_job

        update_job(name, _smdbg={"rules": spec["rules"], "debugger_trial": trial if hook_doc else None})
        self.latest_training_job = TrainingJob(name)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def _workers(
        self, name: str, directory: Path, hosts: list[str], root: str, inside: bool, channels: list[str],
        hook_doc: dict[str, Any] | None, backend: Backend,
    ) -> list[WorkerSpec]:  # fmt: skip
        instance = resolve_instance_type(self.instance_type)
        port = _free_port() if len(hosts) > 1 else 0
        cpus = instance.vcpus or len(os.sched_getaffinity(0))
        argv = [sys.executable]
        if hook_doc is not None and self.zero_code_change and launcher_available():
            argv = launcher_argv(f"{root}/input/config/{HOOK_CONFIG_NAME}")
        argv += [self.entry_point, *hp_args(self.hyperparameters)]
        out = []
        for rank, host in enumerate(hosts):
            env = base_env(backend, self.env_allowlist)
            env.update(training_env(root, host, hosts, self.hyperparameters, channels, self.entry_point,
                                    self.instance_type, cpus))  # fmt: skip
            env.update(self._distributed_env(rank, len(hosts), port) if len(hosts) > 1 else {})
            env["PYTHONUNBUFFERED"] = "1"
            env["SMDBG_TRIAL_COMPONENT_NAME"] = f"{name}-training-job"
            if hook_doc is not None:
                env["SMDBG_CONFIG_FILE_PATH"] = f"{root}/input/config/{HOOK_CONFIG_NAME}"
            env.update(self.environment)
            mounts = []
            if inside:
                mounts = [
                    Mount(str(directory / "ml"), ML_ROOT),
                    Mount(str(directory / "hosts" / host / "resourceconfig.json"), f"{ML_ROOT}/input/config/resourceconfig.json", True),
                ]  # fmt: skip
            out.append(WorkerSpec(name, host, argv, env, f"{root}/code", instance, mounts, str(directory)))
        return out

    def _spec(self, name: str, workers: list[WorkerSpec], exp: dict[str, str] | None,
              channels: Mapping[str, Any], trial: str | None) -> dict[str, Any]:  # fmt: skip
        ml = job_dir(name) / "ml"
        return {
            "kind": "training",
            "name": name,
            "backend": self.backend,
            "image": self.image_uri,
            "workers": [w.to_spec() for w in workers],
            "metric_definitions": self.metric_definitions,
            "experiment_config": exp,
            "trial_component_name": f"{name}-training-job",
            "hyperparameters": self.hyperparameters,
            "job_parameters": {
                "InstanceType": self.instance_type,
                "InstanceCount": float(self.instance_count),
            },
            "input_artifacts": {c: str(ml / "input" / "data" / c) for c in channels},
            "output_artifacts": {"SageMaker.ModelArtifact": str(ml / "model")},
            "debugger_trial": trial,
            "rules": [
                {"name": r.name, "argv": rule_job_argv(trial or "", r, self.rule_actions)} for r in self.rules
            ],
            "failure_files": {w.host: str(ml / "output" / "failure") for w in workers},
            "stop_grace_s": self.stop_grace_s,
            "ray": self.ray,
        }

    def _trial_path(self, name: str, root: str) -> str:
        """Where the hooks write the trial: in the job's output folder, or on Ray, where every
        node and the rule jobs reach it, ``<S3OutputPath>/<job>/debug-output``."""
        if self.backend != "ray":
            return f"{root}/output/tensors"
        s3 = (self.debugger_hook_config or {}).get("S3OutputPath")
        if not s3 or not str(s3).startswith("s3://"):
            raise RayClusterError(
                f"debugger_hook_config S3OutputPath={s3!r}: backend='ray' keeps the trial on shared "
                "storage that every node and the rule jobs reach; pass an s3:// URL, e.g. "
                "debugger_hook_config={'S3OutputPath': 's3://bucket/debug'}"
            )
        return f"{str(s3).rstrip('/')}/{name}/debug-output"

    def _description(self, name: str, ml: Path, channels: Mapping[str, Any], exp: dict[str, str] | None,
                     hook_doc: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
        desc: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:smdbg:local:training-job/{name}",
            "HyperParameters": {k: hp_string(v) for k, v in self.hyperparameters.items()},
            "AlgorithmSpecification": {
                "TrainingImage": self.image_uri or ("local" if self.backend == "local" else "smdbg-base:bookworm"),
                "TrainingInputMode": "File",
                "MetricDefinitions": self.metric_definitions,
            },
            "RoleArn": self.role,
            "InputDataConfig": [{"ChannelName": c, "DataSource": {"FileDataSource": {"FileUri": str(ml / "input" / "data" / c)}}} for c in channels],
            "OutputDataConfig": {"S3OutputPath": str(ml / "output")},
            "ResourceConfig": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count, "VolumeSizeInGB": self.volume_size},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
            "ModelArtifacts": {"S3ModelArtifacts": str(ml / "model")},
            "Environment": redact_env(self.environment),
            "FinalMetricDataList": [],
        }  # fmt: skip
        if exp:
            desc["ExperimentConfig"] = exp
        if hook_doc is not None:
            desc["DebugHookConfig"] = {
                "LocalPath": hook_doc["LocalPath"],
                "S3OutputPath": hook_doc["LocalPath"] if self.backend == "ray" else str(ml / "output" / "tensors"),
                "HookParameters": hook_doc.get("HookParameters", {}),
                "CollectionConfigurations": hook_doc.get("CollectionConfigurations", []),
            }
        if self.rules:
            desc["DebugRuleConfigurations"] = [
                {"RuleConfigurationName": r.name, "RuleParameters": {"rule_to_invoke": r.rule_name, **{k: str(v) for k, v in dict(r.rule_parameters).items()}}}
                for r in self.rules
            ]  # fmt: skip
        return desc

    # -- results -----------------------------------------------------------------------------------
    def _job(self) -> TrainingJob:
        if self.latest_training_job is None:
            raise RuntimeError("this estimator has not run a job yet: call fit() first")
        return self.latest_training_job

    def latest_job_debugger_artifacts_path(self) -> str | None:
        trial = read_job(self._job().job_name).get("_smdbg", {}).get("debugger_trial")
        return str(trial) if trial else None

    @property
    def model_data(self) -> str:
        return str(self._job().job_dir / "ml" / "model")

    def describe(self) -> dict[str, Any]:
        return self._job().describe()
