"""Optional dependencies: import one at the point of use, or fail with one line saying what to install.

smdbg's core needs only numpy and pyarrow. Everything else (pandas, duckdb, the tracker's SQL
engine, s3fs, the platform's web server ...) comes with an extra. ``require`` is the one way the
library reaches such a package, so that a missing one always reads the same:

    trial.to_pandas() needs pandas, which is not installed: pip install 'smdbg[query]'
    (from a clone of smdbg: pip install -e '.[query]')
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from smdbg.exceptions import SmdbgError

__all__ = ["MissingDependencyError", "require", "require_installed", "install_hint"]


class MissingDependencyError(SmdbgError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra to install."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {package}, which is not installed: {install_hint(extra)}", name=package
        )
        self.feature = feature
        self.package = package
        self.extra = extra


def install_hint(extra: str) -> str:
    """The install command for one extra, in its published and its from-a-clone form."""
    return f"pip install 'smdbg[{extra}]' (from a clone of smdbg: pip install -e '.[{extra}]')"


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``feature`` and ``extra``.

    Only a missing top-level package becomes the one-line error; a package that is installed but
    fails while importing keeps its own traceback, which is what its user needs to see.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is not None and e.name.split(".")[0] != top:
            raise
        raise MissingDependencyError(feature, top, extra) from None


def require_installed(module: str, *, extra: str, feature: str) -> None:
    """Like :func:`require`, without importing: for a package another process will import.

    A model endpoint's server process imports torch or keras; the parent only checks, before
    starting it, that they are there, so that a missing one is one line here instead of a
    traceback in the server's log.
    """
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise MissingDependencyError(feature, top, extra)
