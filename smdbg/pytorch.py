"""``import smdbg.pytorch as smd``: the PyTorch hook and everything a training script needs.

Needs PyTorch (``pip install 'smdbg[torch]'``; tested with torch 2.1 and later).
"""

from __future__ import annotations

import os

from smdbg._optional import require

# torch >= 2.1: the hook uses optimizer step hooks and post-accumulate-grad hooks from PyTorch 2.1
require("torch", extra="torch", feature="smdbg.pytorch")

from smdbg import modes  # noqa: E402
from smdbg.collections import Collection, CollectionKeys  # noqa: E402
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode  # noqa: E402
from smdbg.exceptions import StopTrainingRequested  # noqa: E402
from smdbg.hooks.pytorch import Hook  # noqa: E402
from smdbg.trials import create_trial  # noqa: E402

__all__ = [
    "Hook",
    "SaveConfig",
    "SaveConfigMode",
    "ReductionConfig",
    "CollectionConfig",
    "Collection",
    "CollectionKeys",
    "StopTrainingRequested",
    "modes",
    "get_hook",
    "set_hook",
    "del_hook",
    "create_trial",
]


def get_hook(
    json_config_path: str | os.PathLike[str] | None = None, create_if_not_exists: bool = False
) -> Hook | None:
    """The current (last created, not closed) PyTorch hook.

    With ``create_if_not_exists=True`` and no current hook, one is created from the JSON config
    (``json_config_path``, else ``$SMDBG_CONFIG_FILE_PATH``); without a config, None.
    """
    return Hook.current_or_from_config(json_config_path, create_if_not_exists)  # type: ignore[return-value]


def set_hook(custom_hook: Hook) -> None:
    """Make ``custom_hook`` the one :func:`get_hook` returns (smdebug's ``set_hook``)."""
    Hook.set_current(custom_hook)


def del_hook() -> None:
    """Forget the current hook: :func:`get_hook` returns None until one is created or set."""
    Hook.del_current()
