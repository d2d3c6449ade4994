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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smdbg import _settings
from smdbg.config import (
    COLLECTION_PARAMETER_KEYS,
    SAVE_KEYS,
    CollectionConfig,
    ReductionConfig,
    SaveConfig,
    parse_bool,
    save_config_from_params,
    unknown_collection_parameters,
)

__all__ = ["HookConfig", "HookConfigWarning", "CONFIG_ENV_VARS", "find_config_path", "load_hook_config"]

CONFIG_ENV_VARS = _settings.CONFIG_FILE.names

_TOP_KEYS = (
    "LocalPath", "S3OutputPath", "HookParameters", "CollectionConfigurations", "export_tensorboard", "tensorboard_dir",
)  # fmt: skip
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
    def from_dict(cls, data: Mapping[str, Any], source: str = "hook config", strict: bool = False) -> HookConfig:
        """Parse smdebug's hook config. Keys smdbg does not know (``S3Path``, a misspelt
        parameter ...) are ignored with a :class:`HookConfigWarning` naming key and ``source``,
        so SageMaker's files load unchanged (``strict=True``: they raise ValueError, for a config
        written in code); a value of the wrong type raises ValueError naming ``source``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
        try:
            if not strict:
                return cls._parse(data, source)
            with warnings.catch_warnings():
                warnings.simplefilter("error", HookConfigWarning)
                return cls._parse(data, source)
        except HookConfigWarning as e:
            raise ValueError(str(e).replace(": ignoring unknown", ": unknown", 1)) from None
        except (TypeError, ValueError) as e:
            message = str(e)
            raise ValueError(message if message.startswith(source) else f"{source}: {message}") from e

    @classmethod
    def _parse(cls, data: Mapping[str, Any], source: str) -> HookConfig:
        for key in data:
            if key not in _TOP_KEYS:
                _ignored(source, repr(key), ", ".join(_TOP_KEYS))
        out_dir = data.get("LocalPath") or data.get("S3OutputPath")
        if not out_dir or not isinstance(out_dir, str):
            raise ValueError(f"{source}: LocalPath={out_dir!r}: expected the trial's output directory or URL")
        params = _object(data.get("HookParameters"), "HookParameters")
        for key in list(params):
            base = next((key[len(p) :] for p in _MODE_PREFIXES if key.startswith(p)), key)
            if base not in _HOOK_KEYS or (base != key and base not in SAVE_KEYS):
                _ignored(source, f"HookParameters key {key!r}", ", ".join(_HOOK_KEYS))
                del params[key]
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
        # smdebug also reads these two at the top level of the file
        tb = params.get("export_tensorboard", data.get("export_tensorboard", False))
        cfg.export_tensorboard = parse_bool("export_tensorboard", tb)
        cfg.tensorboard_dir = params.get("tensorboard_dir", data.get("tensorboard_dir"))
        if cfg.tensorboard_dir is not None and not isinstance(cfg.tensorboard_dir, str):
            raise ValueError(f"tensorboard_dir={cfg.tensorboard_dir!r}: expected a directory path")
        cfg.include_workers = str(params.get("include_workers", "one"))
        if cfg.include_workers not in ("one", "all"):
            raise ValueError(f"include_workers={cfg.include_workers!r}: expected 'one' or 'all'")
        cfg.collection_configs = _collection_configs(data.get("CollectionConfigurations"), source, params)
        names = [c.name for c in cfg.collection_configs]
        if "include_collections" in params:
            value = params["include_collections"]
            names += [
                n for n in (value.split(",") if isinstance(value, str) else value) if n and n not in names
            ]
        cfg.include_collections = names or None
        return cfg


class HookConfigWarning(UserWarning):
    """A key of a hook config file that smdbg does not use (it is ignored)."""


def _ignored(source: str, what: str, expected: str) -> None:
    warnings.warn(f"{source}: ignoring unknown {what} (smdbg reads {expected})", HookConfigWarning, stacklevel=2)


def _object(value: Any, where: str) -> dict[str, Any]:
    """A JSON object of the file (null counts as empty, as in smdebug)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}={value!r:.80}: expected a JSON object")
    return dict(value)


def _with_hook_save_keys(hook: Mapping[str, Any], coll: Mapping[str, Any]) -> dict[str, Any]:
    """A collection's parameters with smdebug's merge of save settings: when the collection sets
    any, each mode's setting is the collection's for that mode, else the collection's, else the
    hook's for that mode, else the hook's (a collection without any keeps the hook's config)."""
    def is_save(key: str) -> bool:
        return key.rpartition(".")[2] in SAVE_KEYS

    if not any(is_save(k) for k in coll):
        return dict(coll)
    out = {k: v for k, v in coll.items() if not is_save(k)}
    for prefix in _MODE_PREFIXES:
        for key in SAVE_KEYS:
            for source, name in ((coll, prefix + key), (coll, key), (hook, prefix + key), (hook, key)):
                if name in source:
                    out[prefix + key] = source[name]
                    break
    return out


def _collection_configs(entries: Any, source: str, hook_params: Mapping[str, Any]) -> list[CollectionConfig]:
    """``CollectionConfigurations``: unknown keys and parameters warn and are dropped."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError(f"CollectionConfigurations: expected a list, got {type(entries).__name__}")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("CollectionName"), str):
            raise ValueError(f"CollectionConfigurations[{i}]={entry!r:.80}: expected an object with CollectionName")
        name = entry["CollectionName"]
        for key in sorted(set(entry) - {"CollectionName", "CollectionParameters"}):
            _ignored(source, f"key {key!r} in CollectionConfigurations[{i}]", "CollectionName, CollectionParameters")
        params = _object(entry.get("CollectionParameters"), f"collection {name!r}: CollectionParameters")
        for key in unknown_collection_parameters(params):
            _ignored(source, f"parameter {key!r} of collection {name!r}", ", ".join(COLLECTION_PARAMETER_KEYS))
            del params[key]
        out.append(CollectionConfig(name, _with_hook_save_keys(hook_params, params)))
    return out


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
