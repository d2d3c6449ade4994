"""What a hook was asked to do: smdebug's constructor arguments, checked once, then frozen."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from smdbg.collections import compile_regex
from smdbg.config import ReductionConfig, SaveConfig
from smdbg.store.retention import check_keep_raw_steps, check_size_budget

__all__ = ["HookOptions"]


@dataclass(frozen=True)
class HookOptions:
    """The settings of one hook, immutable once built (see :meth:`from_args`).

    ``tensorboard_dir`` is resolved: None without ``export_tensorboard`` (as in smdebug), else
    the one given, or ``<out_dir>/tensorboard`` for a local ``out_dir`` (None for a URL). ``include_collections`` is None when the
    caller gave none (the framework's defaults apply). ``tracker`` is the live object the
    metrics are mirrored to (anything with ``log_metric``/``log_output``), or None.
    """

    out_dir: str
    export_tensorboard: bool = False
    tensorboard_dir: str | None = None
    dry_run: bool = False
    reduction_config: ReductionConfig | None = None
    save_config: SaveConfig = field(default_factory=SaveConfig)
    include_regex: tuple[str, ...] = ()
    include_collections: tuple[str, ...] | None = None
    save_all: bool = False
    include_workers: str = "one"
    tracker: Any = None
    flush_secs: float = 1.0
    stop_check_secs: float = 1.0
    storage_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    keep_raw_steps: int | None = None  # retention at compaction (smdbg.store.retention)
    size_budget_bytes: int | None = None  # warn once when a worker's stream outgrows it

    @classmethod
    def from_args(
        cls,
        out_dir: str | os.PathLike[str],
        export_tensorboard: bool = False,
        tensorboard_dir: str | None = None,
        dry_run: bool = False,
        reduction_config: ReductionConfig | None = None,
        save_config: SaveConfig | None = None,
        include_regex: str | Sequence[str] | None = None,
        include_collections: Sequence[str] | None = None,
        save_all: bool = False,
        include_workers: str = "one",
        *,
        tracker: Any = None,
        flush_secs: float = 1.0,
        stop_check_secs: float = 1.0,
        storage_options: Mapping[str, Any] | None = None,
        keep_raw_steps: int | None = None,
        size_budget_bytes: int | None = None,
    ) -> HookOptions:
        """Check smdebug's constructor arguments; errors name the bad value and what is expected."""
        if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
            raise TypeError(f"out_dir={out_dir!r}: expected a directory path or URL")
        if save_config is not None and not isinstance(save_config, SaveConfig):
            raise TypeError(f"save_config={save_config!r}: expected smd.SaveConfig")
        if reduction_config is not None and not isinstance(reduction_config, ReductionConfig):
            raise TypeError(f"reduction_config={reduction_config!r}: expected smd.ReductionConfig")
        if include_workers not in ("one", "all"):
            raise ValueError(f"include_workers={include_workers!r}: expected 'one' or 'all'")
        included = None if include_collections is None else tuple(include_collections)
        for name in included or ():
            if not isinstance(name, str):
                raise TypeError(f"include_collections contains {name!r}: expected collection names (strings)")
        regexes: tuple[str, ...] = ()
        if include_regex:
            regexes = (include_regex,) if isinstance(include_regex, str) else tuple(include_regex)
            for r in regexes:
                compile_regex(r, "include_regex")
        path = os.fspath(out_dir)
        return cls(
            out_dir=path,
            export_tensorboard=bool(export_tensorboard),
            tensorboard_dir=(tensorboard_dir or (os.path.join(path, "tensorboard") if "://" not in path else None))
            if export_tensorboard
            else None,
            dry_run=bool(dry_run),
            reduction_config=reduction_config,
            save_config=save_config or SaveConfig(),
            include_regex=regexes,
            include_collections=included,
            save_all=bool(save_all),
            include_workers=include_workers,
            tracker=tracker,
            flush_secs=flush_secs,
            stop_check_secs=stop_check_secs,
            storage_options=MappingProxyType(dict(storage_options or {})),
            keep_raw_steps=check_keep_raw_steps(keep_raw_steps),
            size_budget_bytes=check_size_budget(size_budget_bytes),
        )
