"""``import smdbg.pytorch as smd``: the PyTorch hook and everything a training script needs.

Needs PyTorch (``pip install 'smdbg[torch]'``; tested with torch 2.1 and later).
"""

from __future__ import annotations

import os

try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without torch only
    raise ImportError(
        "smdbg.pytorch needs PyTorch: pip install 'smdbg[torch]' (torch >= 2.1; the hook uses "
        "optimizer step hooks and post-accumulate-grad hooks from PyTorch 2.1)"
    ) from e

from smdbg import modes
from smdbg.collections import CollectionKeys
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode
from smdbg.exceptions import StopTrainingRequested
from smdbg.hooks.pytorch import Hook
from smdbg.trials import create_trial

__all__ = [
    "Hook",
    "SaveConfig",
    "SaveConfigMode",
    "ReductionConfig",
    "CollectionConfig",
    "CollectionKeys",
    "StopTrainingRequested",
    "modes",
    "get_hook",
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
