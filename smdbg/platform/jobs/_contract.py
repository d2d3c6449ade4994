"""The training-container contract: the ``/opt/ml`` tree, its config files and ``SM_*`` variables.

Layout (inside a worker; the job directory holds the same tree under ``ml/``)::

    /opt/ml/input/config/hyperparameters.json   every value a string, as SageMaker writes them
    /opt/ml/input/config/inputdataconfig.json   {"<channel>": {"TrainingInputMode": "File", ...}}
    /opt/ml/input/config/resourceconfig.json    {"current_host", "hosts", "network_interface_name"}
    /opt/ml/input/data/<channel>/               the channel's files
    /opt/ml/code/                               the source directory (the working directory)
    /opt/ml/model/                              SM_MODEL_DIR: what the job keeps
    /opt/ml/output/data/                        SM_OUTPUT_DATA_DIR; /opt/ml/output/failure: reason
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ML_ROOT", "hp_string", "hp_args", "write_training_tree", "training_env", "resource_config"]

ML_ROOT = "/opt/ml"


def hp_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hp_args(hps: Mapping[str, Any]) -> list[str]:
    """Hyperparameters as ``--key value`` arguments (strings as they are, other values as JSON)."""
    args: list[str] = []
    for k, v in hps.items():
        args += [f"--{k}", hp_string(v)]
    return args


def resource_config(host: str, hosts: list[str]) -> dict[str, Any]:
    return {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}


def write_training_tree(ml: Path, hps: Mapping[str, Any], channels: list[str], hosts: list[str]) -> None:
    config = ml / "input" / "config"
    for d in (config, ml / "model", ml / "output" / "data", ml / "output" / "intermediate", ml / "code"):
        d.mkdir(parents=True, exist_ok=True)
    for c in channels:
        (ml / "input" / "data" / c).mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({k: hp_string(v) for k, v in hps.items()}, indent=1)
    )
    data_config = {
        c: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for c in channels
    }
    (config / "inputdataconfig.json").write_text(json.dumps(data_config, indent=1))
    (config / "resourceconfig.json").write_text(json.dumps(resource_config(hosts[0], hosts)))


def training_env(
    root: str,
    host: str,
    hosts: list[str],
    hps: Mapping[str, Any],
    channels: list[str],
    entry_point: str,
    instance_type: str,
    num_cpus: int,
) -> dict[str, str]:
    """The ``SM_*`` variables for one worker; ``root`` is where the worker sees the tree."""
    env = {
        "SM_MODEL_DIR": f"{root}/model",
        "SM_INPUT_DIR": f"{root}/input",
        "SM_INPUT_CONFIG_DIR": f"{root}/input/config",
        "SM_OUTPUT_DIR": f"{root}/output",
        "SM_OUTPUT_DATA_DIR": f"{root}/output/data",
        "SM_OUTPUT_INTERMEDIATE_DIR": f"{root}/output/intermediate",
        "SM_MODULE_DIR": f"{root}/code",
        "SM_USER_ENTRY_POINT": entry_point,
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(dict(hps)),
        "SM_USER_ARGS": json.dumps(hp_args(hps)),
        "SM_CURRENT_HOST": host,
        "SM_HOSTS": json.dumps(hosts),
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(num_cpus),
        "SM_LOG_LEVEL": "20",
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "SM_CURRENT_INSTANCE_TYPE": instance_type,
        "SM_RESOURCE_CONFIG": json.dumps(resource_config(host, hosts)),
        "SM_INPUT_DATA_CONFIG": json.dumps({c: {"TrainingInputMode": "File"} for c in channels}),
    }
    for c in channels:
        env[f"SM_CHANNEL_{c.upper()}"] = f"{root}/input/data/{c}"
    for k, v in hps.items():
        env[f"SM_HP_{k.upper()}"] = hp_string(v)
    env["SM_TRAINING_ENV"] = json.dumps(
        {
            "model_dir": env["SM_MODEL_DIR"],
            "channel_input_dirs": {c: f"{root}/input/data/{c}" for c in channels},
            "hyperparameters": dict(hps),
            "current_host": host,
            "hosts": hosts,
            "num_gpus": 0,
            "num_cpus": num_cpus,
            "output_data_dir": env["SM_OUTPUT_DATA_DIR"],
            "user_entry_point": entry_point,
        }
    )
    return env


def host_cpus() -> int:
    return len(os.sched_getaffinity(0))
