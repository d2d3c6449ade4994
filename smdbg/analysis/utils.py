"""smdebug's ``smdebug.analysis.utils``: the ``no_refresh`` and ``refresh`` context managers.

::

    from smdbg.analysis.utils import no_refresh
    with no_refresh(trial):          # or a list of trials
        steps = trial.tensor("loss").steps()   # answers from what was loaded

They live in :mod:`smdbg.trial`; this module is the import path smdebug's users know.
"""

from smdbg.trial import no_refresh, refresh

__all__ = ["no_refresh", "refresh"]
