"""The framework-neutral hook core. Framework hooks subclass :class:`BaseHook`.

A hook is composed of: its :class:`~smdbg.hooks._options.HookOptions` (frozen), its
collections, a :class:`~smdbg.hooks._plan.SavePlanner` (what is saved at this step), the
current step's :class:`~smdbg.hooks._records.StepRecords` and, once started, its record sinks
(:mod:`smdbg.hooks._sinks`: the trial store, and TensorBoard / tracker mirrors on a thread of
their own). ``BaseHook`` owns the step and mode counters and hands each finished step's batch to
the sinks; smdebug's user-facing saving calls (``save_scalar``, ``save_tensor``,
``record_tensor_value``) come from :class:`~smdbg.hooks._saving.ScriptSaving`, the collection
calls and ``get_hook``'s class methods from :class:`~smdbg.hooks._collections_api.CollectionsAPI`,
the save report from :class:`~smdbg.hooks._report.ReportsSaves`. A framework hook adds its
attachments (the framework's public hook points, as objects) and its tensor -> host conversion.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from smdbg import _settings
from smdbg.collections import BUILTIN_COLLECTIONS, Collection, CollectionManager
from smdbg.config import ReductionConfig, SaveConfig
from smdbg.exceptions import StopTrainingRequested, WriterClosedError
from smdbg.hooks._collections_api import CollectionsAPI, io_patterns
from smdbg.hooks._options import HookOptions
from smdbg.hooks._plan import SavePlanner, TensorPlan
from smdbg.hooks._records import Emitted, StepRecords
from smdbg.hooks._report import ReportsSaves, SaveTally
from smdbg.hooks._saving import ScriptSaving
from smdbg.hooks._sinks import SinkThread, StoreSink, Ticks, open_sinks
from smdbg.hooks._support import clear_current, current_hook, guarded, set_current
from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.reductions import Histogram

__all__ = ["BaseHook", "current_hook", "guarded", "io_patterns"]

log = logging.getLogger("smdbg.hooks")
_NO_TICKS = Ticks()  # a hook without a store is never interrupted by writer ticks


def _option(name: str) -> Any:
    """A read-only hook attribute that is ``hook.options.<name>``."""
    return property(lambda self: getattr(self.options, name), doc=f"``options.{name}`` (read-only)")


class BaseHook(ScriptSaving, CollectionsAPI, ReportsSaves):
    """Saves tensors chosen by collections, ``SaveConfig`` and ``ReductionConfig`` into a trial.

    Parameters are smdebug's. ``include_workers``: ``"one"`` saves rank 0 only, ``"all"``
    every rank (each as its own worker). ``tracker``: an ``smdbg.tracker.Tracker`` (or anything
    with ``log_metric``/``log_output``) that receives losses and scalars. ``close()`` is
    idempotent and the hook is a context manager.
    """

    framework: ClassVar[str] = "generic"
    computes_histograms: ClassVar[bool] = False  # ReductionConfig(histogram=...) on framework tensors
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
        keep_raw_steps: int | None = None,
        size_budget_bytes: int | None = None,
    ) -> None:
        self.options = opts = HookOptions.from_args(
            out_dir, export_tensorboard, tensorboard_dir, dry_run, reduction_config, save_config,
            include_regex, include_collections, save_all, include_workers, tracker=tracker,
            flush_secs=flush_secs, stop_check_secs=stop_check_secs, storage_options=storage_options,
            keep_raw_steps=keep_raw_steps, size_budget_bytes=size_budget_bytes,
        )  # fmt: skip
        self.collections = CollectionManager(Collection(n) for n in BUILTIN_COLLECTIONS)
        self.collections.get("all").include(".*")
        self._register_builtin_collections()
        included = list(opts.include_collections or ()) if opts.include_collections is not None else list(
            self.default_include_collections
        )
        for name in included:
            self.collections.get(name)
        if opts.include_regex:
            self.collections.get("default").include(opts.include_regex)
            included.append("default")
        if opts.save_all:
            included.append("all")
        self.planner = SavePlanner(
            self.collections, list(dict.fromkeys(included)), opts.save_config, opts.reduction_config,
            on_change=self._resolve_collection_objects,
        )  # fmt: skip
        self.mode = ModeKeys.GLOBAL
        self.step = 0
        self._mode_steps: dict[ModeKeys, int] = {m: 0 for m in ModeKeys}
        # A framework hook's fast path counts steps it knows save nothing in ``_unfolded`` (added
        # to the mode's count on the next read) while ``_quiet_left`` > 0; anything that may
        # change that (a save, a mode change) zeroes it, and the fast path itself leaves when the
        # store's ticks or the collections' version moved (see ``_quiet_mark``).
        self._unfolded = 0
        self._quiet_left = 0
        self.error_count = 0
        self.rank = 0
        self.world_size = 1
        self._batch: StepRecords | None = None  # the current step's records, made on first use
        self._store: StoreSink | None = None
        self._mirrors: SinkThread | None = None
        self._ticks = _NO_TICKS
        self._started = False
        self._writes = True
        self._closed = False
        self._stop_checked = 0.0
        self._tally = SaveTally()  # what was saved, for the save report
        self._saving = self.planner.begin_step(self.mode, 0)
        set_current(self.framework, self)

    # -- smdebug's attributes, read from the (frozen) options ---------------------------------
    out_dir: str = _option("out_dir")
    dry_run: bool = _option("dry_run")
    export_tensorboard: bool = _option("export_tensorboard")
    tensorboard_dir: str | None = _option("tensorboard_dir")
    save_config: SaveConfig = _option("save_config")
    reduction_config: ReductionConfig | None = _option("reduction_config")
    include_workers: str = _option("include_workers")
    save_all: bool = _option("save_all")
    tracker: Any = _option("tracker")

    @property
    def mode_steps(self) -> dict[ModeKeys, int]:
        """Steps taken so far in each mode (each mode counts its own, as in smdebug)."""
        u = self._unfolded
        if u:
            self._unfolded = 0
            self._mode_steps[self.mode] += u
        return self._mode_steps

    def _quiet_mark(self) -> int:
        """Changes when the store's writer ticked or a collection changed (both only grow)."""
        return self._ticks.n + self.collections.version

    def _register_builtin_collections(self) -> None:
        """Framework hooks add their include patterns for weights, gradients ... here."""

    def _worker_identity(self) -> tuple[int, int]:
        """(rank, world size); framework hooks ask their distributed runtime."""
        return int(_settings.RANK.get() or "0"), int(_settings.WORLD_SIZE.get() or "1")

    # -- lifecycle -----------------------------------------------------------------------------
    def _start(self) -> None:
        """Open the sinks on first use (when the distributed rank is known)."""
        self._started = True
        opts = self.options
        self.rank, self.world_size = self._worker_identity()
        self._writes = not opts.dry_run and (opts.include_workers == "all" or self.rank == 0)
        self._store, self._mirrors = open_sinks(opts, self.rank, self._writes)
        if self._store is not None:
            self._ticks = self._store.ticks
            self._write_metadata()
        if not self.computes_histograms:
            self._warn_histograms()

    def _warn_histograms(self) -> None:
        """Histograms are computed by the PyTorch hook (and for values of ``save_tensor``): say so
        once when another framework's hook is configured with them."""
        asked = [c.name for c in self.collections if c.reduction_config is not None and c.reduction_config.histogram]
        rc = self.options.reduction_config
        if rc is not None and rc.histogram:
            asked.insert(0, "(the hook's reduction_config)")
        if asked:
            log.warning("smdbg: ReductionConfig(histogram=...) is computed by the PyTorch hook only; the %s hook saves "
                        "no histograms of graph tensors for %s (values given to save_tensor excepted)",
                        self.framework, ", ".join(asked))  # fmt: skip

    def _write_metadata(self) -> None:
        if self._store is None or self.rank != 0:
            return
        opts = self.options
        self._store.write_metadata({
            "framework": self.framework,
            "num_workers": self.world_size if opts.include_workers == "all" else 1,
            "collections": self.collections.to_dict(),
            "included_collections": list(self.planner.included),
            "save_config": opts.save_config.to_dict(),
            "reduction_config": opts.reduction_config.to_dict() if opts.reduction_config else None,
            "hook_errors": self.error_count,
            "updated": time.time(),
        })  # fmt: skip

    def set_mode(self, mode: ModeLike) -> None:
        """Switch to TRAIN / EVAL / PREDICT / GLOBAL; each mode keeps its own step counter.

        The global step does not move (smdebug's numbering): the next step of the new mode
        takes the current global step. Values the script saved since the last step ended
        (``save_scalar`` ...) belong to the step under way, which is now the new mode's."""
        new = parse_mode(mode)
        if new is self.mode:
            return
        self.mode_steps  # noqa: B018 - fold fast-path steps into the mode they were taken in
        self._quiet_left = 0
        self.mode = new
        if self._batch is not None:
            self._batch.mode, self._batch.mode_step = new.name, self.mode_steps[new]
        self._saving = self.planner.begin_step(new, self.mode_steps[new])
        self._publish_progress()

    def _publish_progress(self) -> None:
        """Tell readers every record before the current step was handed over. A hook whose
        records of earlier steps are still in flight (device -> host copies) publishes less."""
        if self._store is not None:
            self._store.set_progress(self.step, self.mode.name, self.mode_steps[self.mode])

    def _advance(self) -> None:
        """End the current step: hand its records to the sinks, move both counters on."""
        if self._batch is not None:
            self._hand_over()
        self.step += 1
        mode = self.mode
        mode_step = self.mode_steps[mode] = self.mode_steps[mode] + 1
        self._saving = self.planner.begin_step(mode, mode_step)
        if self._store is not None:
            self._publish_progress()
            now = time.monotonic()
            if now - self._stop_checked >= self.options.stop_check_secs:
                self._stop_checked = now
                self._check_stop()

    def _check_stop(self) -> None:
        assert self._store is not None
        request = self._store.stop_request()
        if request is not None:
            reason = str(request.get("reason", "a rule asked to stop"))
            log.warning("smdbg: stopping training at step %d: %s", self.step, reason)
            self.close(_stopped=reason)
            raise StopTrainingRequested(f"training stopped at step {self.step} by a rule action: {reason}")

    # -- records -------------------------------------------------------------------------------
    def _records(self) -> StepRecords:
        """The current step's records (created on the first save of the step)."""
        batch = self._batch
        if batch is None:
            batch = self._batch = StepRecords(self.step, self.mode.name, self.mode_steps[self.mode])
        return batch

    def _emit_many(self, items: Iterable[Emitted]) -> None:
        """Records of saved tensors (``Emitted`` tuples) for the current step."""
        self._records().add(items)

    def _emit(self, name: str, plan: TensorPlan, host: np.ndarray[Any, Any] | None,
              reductions: Mapping[str, float | Histogram], shape: tuple[int, ...], dtype: str) -> None:  # fmt: skip
        """Records of one saved tensor for the current step."""
        self._records().add(((name, plan, host, reductions, shape, dtype),))

    def _hand_over(self) -> None:
        """Give the current step's records to the sinks."""
        batch, self._batch = self._batch, None
        if batch is not None:
            self._write_batch(batch)

    def _write_batch(self, batch: StepRecords) -> None:
        """Give a finished step's records (the current one's, or an earlier one's) to the sinks."""
        if not batch.records:
            return
        self._tally.add(batch.step, batch.mode, batch.records)
        done = batch.finish()
        if self._store is not None:
            self._store.write(done)
        if self._mirrors is not None:
            self._mirrors.write(done)

    def close(self, _stopped: str | None = None) -> None:
        """Publish what is pending, mark the end of training, release the sinks. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._quiet_left = 0
        clear_current(self.framework, self)
        try:
            self._detach()
        finally:
            try:
                if self._store is not None:
                    self._hand_over()
                    self._store.set_progress(self.step + 1, self.mode.name, self.mode_steps[self.mode] + 1)
                    self._write_metadata()
                    self._write_save_report()
                    end: dict[str, Any] = {"hook_errors": self.error_count, "steps": self.step}
                    if _stopped:
                        end["stopped"] = _stopped
                    self._store.close(end_info=end)
                elif self._mirrors is not None:
                    self._hand_over()
            finally:
                if self._mirrors is not None:
                    self._mirrors.close()

    def flush(self) -> None:
        """Publish every step handed over so far (the trial store and the mirrors)."""
        if self._store is not None:
            self._store.flush()
        if self._mirrors is not None:
            self._mirrors.flush()

    def _detach(self) -> None:
        """Framework hooks remove their attachments (framework hook handles) here."""

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

    def _to_numpy(self, value: Any) -> np.ndarray[Any, Any]:
        """Framework hooks convert their tensors to numpy here."""
        return np.asarray(value)
