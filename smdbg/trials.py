"""The trial API under smdebug's module name: ``from smdbg.trials import create_trial``.

Everything lives in :mod:`smdbg.trial`; this module re-exports its query API.
"""

from smdbg.trial import Tensor, Trial, create_trial

__all__ = ["create_trial", "Trial", "Tensor"]
