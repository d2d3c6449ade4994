"""The trial API: the only door to a trial's files for everything outside the store.

``create_trial(path)`` returns a :class:`Trial`; ``trial.tensor(name)`` a :class:`Tensor`.
Steps are global steps unless a ``mode`` is given, then the mode's own step numbers.
A step is *complete* when every worker has passed it or training has ended; queries about an
incomplete step raise :class:`~smdbg.exceptions.StepNotYetAvailable`, about a step that was never
saved :class:`~smdbg.exceptions.StepUnavailable` (or :class:`~smdbg.exceptions.NoMoreData` past
the end of training).

Layers, each importing only the ones below it (an import-linter contract)::

    _open      create_trial, LocalTrial, S3Trial, no_refresh / refresh (smdebug's ways in)
    _follow    follow_steps: windows of newly complete steps of a live trial
    _trial     Trial
    _tensor    Tensor
    _live      LiveTrial: refresh policy and which steps are complete; WorkerState, StepState
    _rules     what rule jobs leave in a trial: RuleStatusDoc, Finding, stop requests
    _report    what a hook leaves at close: SaveReport (saved per collection, not saved and why)
    _source    TrialSource: the read interface over the store (the only import of smdbg.store)

``smdbg.trials`` is the same API under smdebug's module name. See docs/architecture.md.
"""

from smdbg.trial._follow import StepWindow, follow_steps
from smdbg.trial._live import StepState, WorkerState
from smdbg.trial._open import LocalTrial, S3Trial, create_trial, no_refresh, refresh
from smdbg.trial._report import NotSaved, SaveReport, read_save_reports
from smdbg.trial._rules import (
    Finding,
    RuleStatus,
    RuleStatusDoc,
    read_findings,
    read_rule_statuses,
    read_stop_request,
    request_stop,
    write_findings,
    write_rule_status,
)
from smdbg.trial._source import MODE_NAMES, RAW, Names, TrialLocation, TrialSource, open_source
from smdbg.trial._tensor import Tensor
from smdbg.trial._trial import Trial

__all__ = [
    "create_trial", "Trial", "LocalTrial", "S3Trial", "StepState", "no_refresh", "refresh", "Tensor", "TrialSource", "TrialLocation", "Names", "open_source", "RAW",
    "MODE_NAMES", "WorkerState", "StepWindow", "follow_steps", "RuleStatus", "Finding", "RuleStatusDoc",
    "write_rule_status", "read_rule_statuses", "write_findings", "read_findings", "request_stop",
    "read_stop_request", "SaveReport", "NotSaved", "read_save_reports",
]  # fmt: skip
