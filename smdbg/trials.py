"""The trial API under smdebug's module name: ``from smdbg.trials import create_trial``.

Everything lives in :mod:`smdbg.trial`; this module re-exports its query API (with smdebug's
``LocalTrial``, ``S3Trial`` and ``StepState``).
"""

from smdbg.trial import LocalTrial, S3Trial, StepState, Tensor, Trial, create_trial

__all__ = ["create_trial", "Trial", "LocalTrial", "S3Trial", "StepState", "Tensor"]
