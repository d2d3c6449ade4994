"""The errors smdbg raises: one root, :class:`SmdbgError`, and each error also subclasses the builtin
it refines (``ValueError``, ``LookupError``, ``OSError`` ...).

The store's and the trial API's errors are here. Each component keeps its own base in its
``_errors`` module, and every one of those subclasses :class:`SmdbgError`:
``smdbg.tracker.TrackerError``, ``smdbg.platform.jobs.JobError``,
``smdbg.platform.automl.AutoMLError``, ``smdbg.platform.monitor.MonitorError``,
``smdbg.platform.serving.ServingError``, ``smdbg.rules.RuleConfigError`` and
``smdbg._optional.MissingDependencyError``. So ``except smdbg.SmdbgError`` catches every error
smdbg raises on purpose, and ``except ValueError`` still catches a bad value.

Trial-query errors keep smdebug's names so ported ``except`` clauses keep working.
"""

from __future__ import annotations

from smdbg.modes import ModeLike

__all__ = [
    "SmdbgError",
    "InvalidNameError",
    "StoreError",
    "CorruptSegmentError",
    "UnsupportedFormatVersion",
    "StoreWriteError",
    "WriterClosedError",
    "TrialExistsError",
    "NoTrialFound",
    "StepNotYetAvailable",
    "StepUnavailable",
    "TensorUnavailable",
    "TensorUnavailableForStep",
    "RawTensorDropped",
    "NoMoreData",
    "StopTrainingRequested",
]


class SmdbgError(Exception):
    """Base class of every smdbg error."""


class InvalidNameError(SmdbgError, ValueError):
    """A user-given name that becomes a file or folder name is not one safe path component
    (raised by :func:`smdbg.fs.check_path_component`)."""


class StoreError(SmdbgError, OSError):
    """A problem reading or writing the trial store."""


class CorruptSegmentError(StoreError, ValueError):
    """A segment file is truncated, fails its checksum or does not parse."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"corrupt segment {path}: {reason}; the rest of the trial is still readable")
        self.path = path
        self.reason = reason


class UnsupportedFormatVersion(StoreError, ValueError):
    """A segment or trial was written by a newer smdbg format than this reader knows."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        super().__init__(
            f"{path} has store format version {found}, this smdbg reads up to version {supported}: "
            "upgrade smdbg to read it"
        )
        self.path = path


class StoreWriteError(StoreError):
    """The background writer failed (disk full, permission denied ...); raised on the next call."""


class WriterClosedError(StoreError, RuntimeError):
    """Writing to a writer (or hook) that was already closed."""


class TrialExistsError(StoreError, FileExistsError):
    """A new writer's trial directory already holds a run written by the same worker."""

    def __init__(self, path: str, worker: str, found: str) -> None:
        super().__init__(
            f"out_dir {path} already holds a trial written by {worker} ({found}); smdbg does not mix "
            f"two runs in one trial: write the new run to a new out_dir (e.g. {path.rstrip('/')}-2), "
            "or delete the old trial first (writers also take overwrite=True to replace that worker's "
            "run, append=True to continue it after a crash)"
        )
        self.path = path
        self.worker = worker


class NoTrialFound(SmdbgError, FileNotFoundError):
    """No trial appeared at a path within the timeout."""

    def __init__(self, path: str, timeout: float) -> None:
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        super().__init__(
            f"no smdbg trial at {path}{waited}: expected a directory with "
            "trial.json or events/<worker>/ segment files (is the path right, and has training started?)"
        )
        self.path = path


class StepNotYetAvailable(SmdbgError, LookupError):
    """The step is not saved yet, and training may still save it."""

    def __init__(self, step: int, mode: ModeLike | None) -> None:
        super().__init__(
            f"step {step} (mode {_mode_name(mode)}) is not yet available; training is still running"
        )
        self.step = step
        self.mode = mode


class StepUnavailable(SmdbgError, LookupError):
    """The step was never saved: every worker has passed it, or training ended."""

    def __init__(self, step: int, mode: ModeLike | None) -> None:
        super().__init__(f"step {step} (mode {_mode_name(mode)}) was not saved and never will be")
        self.step = step
        self.mode = mode


class TensorUnavailable(SmdbgError, KeyError):
    """No tensor of that name was saved in the trial."""

    def __init__(self, name: str) -> None:
        super().__init__(f"tensor {name!r} was not saved in this trial (see trial.tensor_names())")
        self.tensor = name

    def __str__(self) -> str:
        return str(self.args[0])


class TensorUnavailableForStep(SmdbgError, LookupError):
    """The tensor exists, but not at that step (or not with that reduction or worker)."""

    def __init__(self, name: str, step: int, mode: ModeLike | None, detail: str = "") -> None:
        extra = f" {detail}" if detail else ""
        super().__init__(f"tensor {name!r} was not saved at step {step} (mode {_mode_name(mode)}){extra}")
        self.tensor = name
        self.step = step
        self.mode = mode


class RawTensorDropped(TensorUnavailableForStep):
    """The raw tensor of that step was dropped by retention; its reductions and scalars remain."""

    def __init__(self, name: str, step: int, keep_raw_steps: int) -> None:
        super().__init__(name, step, None)
        self.args = (
            f"the raw tensor {name!r} of step {step} was dropped by retention (keep_raw_steps="
            f"{keep_raw_steps}: only the raw tensors of recent steps are kept); its reductions and "
            "scalars are still available (tensor.reduction_value, tensor.history)",
        )
        self.keep_raw_steps = keep_raw_steps


class NoMoreData(SmdbgError, LookupError):
    """Training ended before the asked-for step; no more data will arrive."""


class StopTrainingRequested(SmdbgError, RuntimeError):
    """A rule action asked training to stop; raised by a hook at a step boundary."""


def _mode_name(mode: ModeLike | None) -> str:
    return getattr(mode, "name", None) or ("GLOBAL" if mode is None else str(mode))
