"""Hook configuration from a JSON file, compatible with smdebug's hook config file.

Shape::

    {
      "LocalPath": "/path/to/trial",
      "HookParameters": {"save_interval": "10", "train.save_interval": "5",
                         "reductions": "mean,abs_max", "include_regex": "fc.*", ...},
      "CollectionConfigurations": [
        {"CollectionName": "weights", "CollectionParameters": {"save_interval": "20"}}
      ]
    }

The file is found from an explicit path, else from ``$SMDBG_CONFIG_FILE_PATH`` (smdebug's
``$SMDEBUG_CONFIG_FILE_PATH`` is honoured too, so job runners written for it keep working).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smdbg import _settings
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, parse_bool, save_config_from_params

__all__ = ["HookConfig", "CONFIG_ENV_VARS", "find_config_path", "load_hook_config"]

CONFIG_ENV_VARS = _settings.CONFIG_FILE.names

_TOP_KEYS = ("LocalPath", "S3OutputPath", "HookParameters", "CollectionConfigurations")
_HOOK_KEYS = (
    "save_interval", "start_step", "end_step", "save_steps",
    "include_regex", "include_collections", "reductions", "save_raw_tensor", "save_shape",
    "save_all", "include_workers", "export_tensorboard", "tensorboard_dir", "dry_run",
)  # fmt: skip
_MODE_PREFIXES = ("train.", "eval.", "predict.", "global.")


@dataclass
class HookConfig:
    """Everything a framework hook's constructor takes, parsed from JSON."""

    out_dir: str
    save_config: SaveConfig | None = None
    reduction_config: ReductionConfig | None = None
    include_regex: list[str] | None = None
    include_collections: list[str] | None = None
    save_all: bool = False
    include_workers: str = "one"
    export_tensorboard: bool = False
    tensorboard_dir: str | None = None
    dry_run: bool = False
    collection_configs: list[CollectionConfig] = field(default_factory=list)

    def hook_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Hook(...)`` (collection configs are applied separately)."""
        return {
            "out_dir": self.out_dir,
            "save_config": self.save_config,
            "reduction_config": self.reduction_config,
            "include_regex": self.include_regex,
            "include_collections": self.include_collections,
            "save_all": self.save_all,
            "include_workers": self.include_workers,
            "export_tensorboard": self.export_tensorboard,
            "tensorboard_dir": self.tensorboard_dir,
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "hook config") -> HookConfig:
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
        for key in data:
            if key not in _TOP_KEYS:
                raise ValueError(f"{source}: unknown key {key!r}; expected {', '.join(_TOP_KEYS)}")
        out_dir = data.get("LocalPath") or data.get("S3OutputPath")
        if not out_dir or not isinstance(out_dir, str):
            raise ValueError(f"{source}: LocalPath={out_dir!r}: expected the trial's output directory or URL")
        params = dict(data.get("HookParameters") or {})
        for key in params:
            base = next((key[len(p) :] for p in _MODE_PREFIXES if key.startswith(p)), key)
            if base not in _HOOK_KEYS or (
                base != key and base not in ("save_interval", "start_step", "end_step", "save_steps")
            ):
                raise ValueError(
                    f"{source}: unknown HookParameters key {key!r}; expected one of {', '.join(_HOOK_KEYS)}"
                )
        cfg = cls(out_dir=out_dir)
        cfg.save_config = save_config_from_params(params)
        if any(k in params for k in ("reductions", "save_raw_tensor", "save_shape")):
            cfg.reduction_config = ReductionConfig.from_tokens(
                params.get("reductions", ""),
                save_raw_tensor=parse_bool("save_raw_tensor", params.get("save_raw_tensor", False)),
                save_shape=parse_bool("save_shape", params.get("save_shape", False)),
            )
        if "include_regex" in params:
            value = params["include_regex"]
            cfg.include_regex = value.split(",") if isinstance(value, str) else list(value)
        cfg.save_all = parse_bool("save_all", params.get("save_all", False))
        cfg.dry_run = parse_bool("dry_run", params.get("dry_run", False))
        cfg.export_tensorboard = parse_bool("export_tensorboard", params.get("export_tensorboard", False))
        cfg.tensorboard_dir = params.get("tensorboard_dir")
        cfg.include_workers = str(params.get("include_workers", "one"))
        if cfg.include_workers not in ("one", "all"):
            raise ValueError(f"{source}: include_workers={cfg.include_workers!r}: expected 'one' or 'all'")
        colls = data.get("CollectionConfigurations") or []
        if not isinstance(colls, list):
            raise ValueError(
                f"{source}: CollectionConfigurations: expected a list, got {type(colls).__name__}"
            )
        for i, entry in enumerate(colls):
            if not isinstance(entry, Mapping) or "CollectionName" not in entry:
                raise ValueError(
                    f"{source}: CollectionConfigurations[{i}]={entry!r}: expected an object with CollectionName"
                )
            extra = set(entry) - {"CollectionName", "CollectionParameters"}
            if extra:
                raise ValueError(
                    f"{source}: CollectionConfigurations[{i}] has unknown key(s) {sorted(extra)}; "
                    "expected CollectionName and CollectionParameters"
                )
            cfg.collection_configs.append(
                CollectionConfig(entry["CollectionName"], entry.get("CollectionParameters") or {})
            )
        names = [c.name for c in cfg.collection_configs]
        if "include_collections" in params:
            value = params["include_collections"]
            names += [
                n for n in (value.split(",") if isinstance(value, str) else value) if n and n not in names
            ]
        cfg.include_collections = names or None
        return cfg


def find_config_path(path: str | os.PathLike[str] | None = None) -> str | None:
    """The explicit path, else the first set environment variable of :data:`CONFIG_ENV_VARS`."""
    if path is not None:
        return os.fspath(path)
    return _settings.CONFIG_FILE.get()


def load_hook_config(path: str | os.PathLike[str] | None = None) -> HookConfig:
    """Read and validate a hook config file; errors name the file and the bad key."""
    found = find_config_path(path)
    if found is None:
        raise FileNotFoundError(
            f"no hook config given: pass a path or set {CONFIG_ENV_VARS[0]} to a JSON hook config file"
        )
    try:
        with open(found, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"hook config file {found!r} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"hook config file {found!r} is not valid JSON: {e}") from e
    return HookConfig.from_dict(data, source=f"hook config {found!r}")
