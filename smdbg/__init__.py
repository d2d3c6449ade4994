"""smdbg: open training instrumentation.

``import smdbg`` is light: it pulls in numpy only. Frameworks, pyarrow and the components
(rules, tracker, platform) load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "modes",
    "ModeKeys",
    "SaveConfig",
    "SaveConfigMode",
    "ReductionConfig",
    "CollectionConfig",
    "Collection",
    "create_trial",
    "trials",
    "SmdbgError",
]

_LAZY = {
    "modes": ("smdbg.modes", None),
    "ModeKeys": ("smdbg.modes", "ModeKeys"),
    "SaveConfig": ("smdbg.config", "SaveConfig"),
    "SaveConfigMode": ("smdbg.config", "SaveConfigMode"),
    "ReductionConfig": ("smdbg.config", "ReductionConfig"),
    "CollectionConfig": ("smdbg.config", "CollectionConfig"),
    "Collection": ("smdbg.collections", "Collection"),
    "create_trial": ("smdbg.trials", "create_trial"),
    "trials": ("smdbg.trials", None),
    "SmdbgError": ("smdbg.exceptions", "SmdbgError"),
}

if TYPE_CHECKING:  # pragma: no cover
    from smdbg import modes, trials
    from smdbg.collections import Collection
    from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode
    from smdbg.exceptions import SmdbgError
    from smdbg.modes import ModeKeys
    from smdbg.trials import create_trial


def __getattr__(name: str) -> Any:
    import importlib

    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'smdbg' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
