"""``import smdbg.mxnet as smd``: the MXNet Gluon hook with smdebug's names.

``smd.Hook(out_dir, ...)`` (or ``smd.Hook.create_from_json_file()``), then
``hook.register_block(net)``, ``hook.register_block(loss_fn)`` and optionally
``hook.wrap_trainer(trainer)``. Needs MXNet with Gluon forward hooks; tested with MXNet 1.9.1
(the last release), which imports only with numpy < 1.24 (``bash scripts/setup_mxnet_env.sh``).
"""

from __future__ import annotations

from smdbg.hooks.mxnet import import_mxnet

import_mxnet()  # ImportError naming the working versions when mxnet is missing or broken

from smdbg import modes  # noqa: E402
from smdbg.collections import Collection, CollectionKeys  # noqa: E402
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode  # noqa: E402
from smdbg.hooks.mxnet import GRADIENT_PREFIX, Hook  # noqa: E402
from smdbg.modes import ModeKeys  # noqa: E402
from smdbg.trials import create_trial  # noqa: E402

__all__ = [
    "Hook",
    "SaveConfig",
    "SaveConfigMode",
    "ReductionConfig",
    "CollectionConfig",
    "Collection",
    "CollectionKeys",
    "modes",
    "ModeKeys",
    "GRADIENT_PREFIX",
    "get_hook",
    "set_hook",
    "del_hook",
    "create_trial",
]


def get_hook(json_config_path: str | None = None, create_if_not_exists: bool = False) -> Hook | None:
    """The current MXNet hook; with ``create_if_not_exists`` one made from the JSON config
    (``json_config_path`` or ``$SMDBG_CONFIG_FILE_PATH``). None when there is neither."""
    return Hook.current_or_from_config(json_config_path, create_if_not_exists)  # type: ignore[return-value]


def set_hook(custom_hook: Hook) -> None:
    """Make ``custom_hook`` the one :func:`get_hook` returns (smdebug's ``set_hook``)."""
    Hook.set_current(custom_hook)


def del_hook() -> None:
    """Forget the current hook: :func:`get_hook` returns None until one is created or set."""
    Hook.del_current()
