"""Model monitor: baseline statistics and constraints, monitoring runs and schedules, violations.

Writes ``statistics.json``, ``constraints.json`` and ``constraint_violations.json`` in the layout
SageMaker Model Monitor uses, with KLL sketches from Apache DataSketches.
"""

from __future__ import annotations

from smdbg.platform.monitor._checks import categorical_distance, linf_distance, robust
from smdbg.platform.monitor._constraints import normalize_constraints, suggest_constraints
from smdbg.platform.monitor._dataset import DatasetFormat, read_capture, read_dataset
from smdbg.platform.monitor._errors import ConstraintsError, DatasetError, MonitorError, ScheduleError
from smdbg.platform.monitor._monitor import BaselineJob, DefaultModelMonitor, MonitoringExecution
from smdbg.platform.monitor._schedule import CronExpressionGenerator, LocalScheduler, Schedule, parse_schedule
from smdbg.platform.monitor._stats import compute_statistics

__all__ = [
    "DefaultModelMonitor",
    "BaselineJob",
    "MonitoringExecution",
    "DatasetFormat",
    "CronExpressionGenerator",
    "Schedule",
    "LocalScheduler",
    "parse_schedule",
    "compute_statistics",
    "suggest_constraints",
    "normalize_constraints",
    "read_dataset",
    "read_capture",
    "linf_distance",
    "categorical_distance",
    "robust",
    "MonitorError",
    "DatasetError",
    "ConstraintsError",
    "ScheduleError",
]
