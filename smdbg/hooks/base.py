"""The framework-neutral hook core. Framework hooks subclass :class:`BaseHook`.

It owns the step and mode counters, decides once per step what is saved (``SavePlanner``),
turns values into store records, hands them to the background writer at the step boundary,
mirrors scalars to TensorBoard and a tracker, and checks for stop requests. A framework hook
adds only the framework's public hook points and its tensor -> host conversion.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from smdbg.collections import (
    BUILTIN_COLLECTIONS,
    Collection,
    CollectionManager,
    compile_regex,
    watch_save_configs,
)
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig
from smdbg.exceptions import StopTrainingRequested, WriterClosedError
from smdbg.hook_config import find_config_path, load_hook_config
from smdbg.hooks._plan import SavePlanner
from smdbg.hooks._saving import SavingMixin
from smdbg.hooks._support import clear_current, current_hook, guarded, set_current
from smdbg.modes import ModeKeys, parse_mode
from smdbg.store import BackgroundWriter, Record
from smdbg.store.control import read_stop_request

__all__ = ["BaseHook", "current_hook", "guarded"]

log = logging.getLogger("smdbg.hooks")


class BaseHook(SavingMixin):
    """Saves tensors chosen by collections, ``SaveConfig`` and ``ReductionConfig`` into a trial.

    Parameters are smdebug's. ``include_workers``: ``"one"`` saves rank 0 only, ``"all"``
    every rank (each as its own worker). ``tracker``: an ``smdbg.tracker.Tracker`` (or anything
    with ``log_metric``/``log_output``) that receives losses and scalars. ``close()`` is
    idempotent and the hook is a context manager.
    """

    framework: ClassVar[str] = "generic"
    default_include_collections: ClassVar[tuple[str, ...]] = ("losses",)

    def __init__(
        self,
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
    ) -> None:
        if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
            raise TypeError(f"out_dir={out_dir!r}: expected a directory path or URL")
        if save_config is not None and not isinstance(save_config, SaveConfig):
            raise TypeError(f"save_config={save_config!r}: expected smd.SaveConfig")
        if reduction_config is not None and not isinstance(reduction_config, ReductionConfig):
            raise TypeError(f"reduction_config={reduction_config!r}: expected smd.ReductionConfig")
        if include_workers not in ("one", "all"):
            raise ValueError(f"include_workers={include_workers!r}: expected 'one' or 'all'")
        self.out_dir = os.fspath(out_dir)
        self.dry_run = bool(dry_run)
        self.export_tensorboard = bool(export_tensorboard)
        self.tensorboard_dir = tensorboard_dir or (
            os.path.join(self.out_dir, "tensorboard") if "://" not in self.out_dir else None
        )
        self.save_config = save_config or SaveConfig()
        self.reduction_config = reduction_config
        self.include_workers = include_workers
        self.save_all = bool(save_all)
        self.tracker = tracker
        self._flush_secs = flush_secs
        self._stop_check_secs = stop_check_secs
        self._storage_options = dict(storage_options or {})

        self.collections = CollectionManager(Collection(n) for n in BUILTIN_COLLECTIONS)
        self.collections.get("all").include(".*")
        self._register_builtin_collections()
        included = (
            list(include_collections)
            if include_collections is not None
            else list(self.default_include_collections)
        )
        for name in included:
            if not isinstance(name, str):
                raise TypeError(f"include_collections contains {name!r}: expected collection names (strings)")
            self.collections.get(name)
        if include_regex:
            regexes = [include_regex] if isinstance(include_regex, str) else list(include_regex)
            for r in regexes:
                compile_regex(r, "include_regex")
            self.collections.get("default").include(regexes)
            included.append("default")
        if self.save_all:
            included.append("all")
        self.planner = SavePlanner(
            self.collections, list(dict.fromkeys(included)), self.save_config, reduction_config
        )

        self.mode = ModeKeys.GLOBAL
        self.step = 0
        self._mode_steps: dict[ModeKeys, int] = {m: 0 for m in ModeKeys}
        # A framework hook's fast path counts steps it knows save nothing in ``_unfolded`` (added
        # to the mode's count on the next read) while ``_quiet_left`` > 0; anything that may
        # change that (a save, a mode or config change, the writer's periodic tick) zeroes it.
        self._unfolded = 0
        self._quiet_left = 0
        self.error_count = 0
        self.rank = 0
        self.world_size = 1
        self._records: list[Record] = []
        self._writer: BackgroundWriter | None = None
        self._tb: Any = None
        self._started = False
        self._writes = True
        self._closed = False
        self._stop_checked = 0.0
        self._saving = self.planner.begin_step(self.mode, 0)
        watch_save_configs(self)
        set_current(self.framework, self)

    @property
    def mode_steps(self) -> dict[ModeKeys, int]:
        """Steps taken so far in each mode (each mode counts its own, as in smdebug)."""
        u = self._unfolded
        if u:
            self._unfolded = 0
            self._mode_steps[self.mode] += u
        return self._mode_steps

    def _interrupt_fast_path(self) -> None:
        """The next step takes the full path. Called on the writer thread at every tick (so
        progress is published and the stop request checked while steps are quiet) and by the
        collections when a save config changes."""
        self._quiet_left = 0

    _save_configs_changed = _interrupt_fast_path  # the collections' watcher protocol

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def create_from_json_file(
        cls, json_file_path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> BaseHook:
        """A hook configured by smdebug's JSON file (path, else ``$SMDBG_CONFIG_FILE_PATH``)."""
        cfg = load_hook_config(json_file_path)
        hook = cls(**{**cfg.hook_kwargs(), **kwargs})
        for cc in cfg.collection_configs:
            hook.collections.apply_config(cc)
        return hook

    @classmethod
    def current_or_from_config(
        cls, json_config_path: str | os.PathLike[str] | None = None, create_if_not_exists: bool = False
    ) -> BaseHook | None:
        """``get_hook`` of every framework: the current (last created, not closed) hook of this
        framework; else, with ``create_if_not_exists``, one of this class made from the JSON
        config (``json_config_path`` or ``$SMDBG_CONFIG_FILE_PATH``); else None."""
        hook = current_hook(cls.framework)
        if hook is None and create_if_not_exists and find_config_path(json_config_path) is not None:
            hook = cls.create_from_json_file(json_config_path)
        return hook  # type: ignore[no-any-return]

    def _register_builtin_collections(self) -> None:
        """Framework hooks add their include patterns for weights, gradients ... here."""

    def _worker_identity(self) -> tuple[int, int]:
        """(rank, world size); framework hooks ask their distributed runtime."""
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))

    # -- collections ---------------------------------------------------------------------------
    def get_collection(self, name: str, create: bool = True) -> Collection:
        return self.collections.get(name, create=create)

    def get_collections(self) -> dict[str, Collection]:
        return {c.name: c for c in self.collections}

    def add_collection(self, collection: Collection | CollectionConfig) -> Collection:
        """Add (and include) a collection, or apply a CollectionConfig."""
        coll = (
            self.collections.apply_config(collection)
            if isinstance(collection, CollectionConfig)
            else self.collections.add(collection)
        )
        self.include_collection(coll.name)
        return coll

    def include_collection(self, name: str) -> None:
        if name not in self.planner.included:
            self.collections.get(name)
            self.planner.included.append(name)
            self._quiet_left = 0
            self._saving = self.planner.begin_step(self.mode, self.mode_steps[self.mode])

    # -- lifecycle -----------------------------------------------------------------------------
    def _start(self) -> None:
        """Open the writer on first use (when the distributed rank is known)."""
        self._started = True
        self.rank, self.world_size = self._worker_identity()
        self._writes = not self.dry_run and (self.include_workers == "all" or self.rank == 0)
        if not self._writes:
            return
        self._writer = BackgroundWriter(
            self.out_dir,
            f"worker_{self.rank}",
            flush_secs=self._flush_secs,
            storage_options=self._storage_options,
            on_tick=self._interrupt_fast_path,
        )
        self._write_metadata()
        if self.export_tensorboard and self.tensorboard_dir:
            from smdbg.tb import TensorBoardWriter

            self._tb = TensorBoardWriter(os.path.join(self.tensorboard_dir, f"worker_{self.rank}"))
        if self.tracker is not None and self.rank == 0:
            self.tracker.log_output(
                name="debugger-trial", value=self.out_dir, media_type="application/x-smdbg-trial"
            )

    def _write_metadata(self) -> None:
        if self._writer is None or self.rank != 0:
            return
        self._writer.write_trial_metadata({
            "framework": self.framework,
            "num_workers": self.world_size if self.include_workers == "all" else 1,
            "collections": self.collections.to_dict(),
            "included_collections": list(self.planner.included),
            "save_config": self.save_config.to_dict(),
            "reduction_config": self.reduction_config.to_dict() if self.reduction_config else None,
            "hook_errors": self.error_count,
            "updated": time.time(),
        })  # fmt: skip

    def set_mode(self, mode: Any) -> None:
        """Switch to TRAIN / EVAL / PREDICT / GLOBAL; each mode keeps its own step counter."""
        mode = parse_mode(mode)
        if mode is self.mode:
            return
        self.mode_steps  # noqa: B018 - fold fast-path steps into the mode they were taken in
        self._quiet_left = 0
        if self._records:
            self._advance()
        self.mode = mode
        self._saving = self.planner.begin_step(mode, self.mode_steps[mode])
        self._publish_progress()

    def _publish_progress(self) -> None:
        """Tell readers every record before the current step was handed over. A hook whose
        records of earlier steps are still in flight (device -> host copies) publishes less."""
        if self._writer is not None:
            self._writer.set_progress(self.step, self.mode.name, self.mode_steps[self.mode])

    def _advance(self) -> None:
        """End the current step: hand its records to the writer, move both counters on."""
        if self._records:
            self._flush_records()
        self.step += 1
        mode = self.mode
        mode_step = self.mode_steps[mode] = self.mode_steps[mode] + 1
        self._saving = self.planner.begin_step(mode, mode_step)
        if self._writer is not None:
            self._publish_progress()
            now = time.monotonic()
            if now - self._stop_checked >= self._stop_check_secs:
                self._stop_checked = now
                self._check_stop()

    def _check_stop(self) -> None:
        assert self._writer is not None
        request = read_stop_request(self._writer.fs)
        if request is not None:
            reason = str(request.get("reason", "a rule asked to stop"))
            log.warning("smdbg: stopping training at step %d: %s", self.step, reason)
            self.close(_stopped=reason)
            raise StopTrainingRequested(f"training stopped at step {self.step} by a rule action: {reason}")

    def _flush_records(self) -> None:
        if not self._records:
            return
        records, self._records = self._records, []
        if self._writer is not None:
            self._writer.add(self.step, self.mode.name, self.mode_steps[self.mode], records)

    def close(self, _stopped: str | None = None) -> None:
        """Publish what is pending, mark the end of training, release the writer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._quiet_left = 0
        clear_current(self.framework, self)
        try:
            self._detach()
        finally:
            if self._writer is not None:
                self._flush_records()
                self._writer.set_progress(self.step + 1, self.mode.name, self.mode_steps[self.mode] + 1)
                self._write_metadata()
                end: dict[str, Any] = {"hook_errors": self.error_count, "steps": self.step}
                if _stopped:
                    end["stopped"] = _stopped
                self._writer.close(end_info=end)
            if self._tb is not None:
                self._tb.close()
            if self.tracker is not None and hasattr(self.tracker, "flush"):
                self.tracker.flush()

    def _detach(self) -> None:
        """Framework hooks remove their framework hook handles here."""

    def __enter__(self) -> BaseHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError(
                f"this {type(self).__name__} for {self.out_dir} is closed; create a new hook to save more"
            )
        if not self._started:
            self._start()
        self._quiet_left = 0  # something is saved at this step: it ends on the full path

    def _report_error(self, where: str, error: BaseException) -> None:
        """Count and log an internal error loudly; the caller re-raises it."""
        self.error_count += 1
        log.error("smdbg %s hook: %s failed: %s", self.framework, where, error, exc_info=error)
