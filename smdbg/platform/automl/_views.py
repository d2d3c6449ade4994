"""The narrow views the parts of an AutoML job take of each other.

They are structural types (:class:`typing.Protocol`): the run (``_runner``) reads its settings
from an :class:`~smdbg.platform.automl.AutoML` and the notebooks read a run, each through the
few attributes named here, so that neither module imports the other's class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ._problem import Objective
from ._search import Candidate

__all__ = ["JobSettings", "NotebookJob"]


class JobSettings(Protocol):
    """What a run reads from its AutoML object: its settings, never its state."""

    @property
    def target_attribute_name(self) -> str: ...
    @property
    def problem_type(self) -> str | None: ...
    @property
    def max_candidates(self) -> int | None: ...
    @property
    def max_runtime_per_training_job_in_seconds(self) -> float | None: ...
    @property
    def total_job_runtime_in_seconds(self) -> float | None: ...
    @property
    def output_path(self) -> Path: ...
    @property
    def options(self) -> dict[str, Any]: ...


class NotebookJob(Protocol):
    """What the generated notebooks describe: one run's data, settings and candidates."""

    @property
    def automl(self) -> JobSettings: ...
    @property
    def job_name(self) -> str: ...
    @property
    def job_dir(self) -> Path: ...
    @property
    def target(self) -> str: ...
    @property
    def problem_type(self) -> str: ...
    @property
    def objective(self) -> Objective: ...
    @property
    def feature_kinds(self) -> dict[str, str]: ...
    @property
    def analysis(self) -> dict[str, Any]: ...
    @property
    def candidates(self) -> list[Candidate]: ...
