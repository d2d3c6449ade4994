"""``import smdbg.tensorflow as smd``: the TensorFlow hooks with smdebug's names.

Graph mode (``tf.compat.v1``, ``MonitoredSession``): :class:`SessionHook` (alias
``EstimatorHook``) with ``wrap_optimizer``. Keras 3: :class:`KerasHook`, a callback, with
``wrap_tape``/``wrap_optimizer`` for custom loops. Needs TensorFlow >= 2.16 (Keras 3);
tested with tensorflow-cpu 2.21 and Keras 3.15.
"""

from __future__ import annotations

from typing import Any

from smdbg._optional import require

# TensorFlow 2.16 or newer, with Keras 3
for _module in ("tensorflow", "keras"):
    require(_module, extra="tensorflow", feature="smdbg.tensorflow")

from smdbg import modes  # noqa: E402
from smdbg.collections import Collection, CollectionKeys  # noqa: E402
from smdbg.config import CollectionConfig, ReductionConfig, SaveConfig, SaveConfigMode  # noqa: E402
from smdbg.hooks.tensorflow import EstimatorHook, KerasHook, SessionHook, WrappedOptimizer, WrappedTape  # noqa: E402
from smdbg.modes import ModeKeys  # noqa: E402
from smdbg.trials import create_trial  # noqa: E402

__all__ = [
    "SessionHook",
    "EstimatorHook",
    "KerasHook",
    "WrappedOptimizer",
    "WrappedTape",
    "SaveConfig",
    "SaveConfigMode",
    "ReductionConfig",
    "CollectionConfig",
    "Collection",
    "CollectionKeys",
    "modes",
    "ModeKeys",
    "get_hook",
    "set_hook",
    "del_hook",
    "create_trial",
]


def get_hook(
    json_config_path: str | None = None, create_if_not_exists: bool = False, hook_type: str = "keras"
) -> Any:
    """The current TensorFlow hook; with ``create_if_not_exists`` one made from the JSON config
    (``json_config_path`` or ``$SMDBG_CONFIG_FILE_PATH``), a ``KerasHook`` unless
    ``hook_type="session"``. None when there is neither a hook nor a config."""
    if hook_type not in ("keras", "session"):
        raise ValueError(f"get_hook(hook_type={hook_type!r}): expected 'keras' or 'session'")
    cls = KerasHook if hook_type == "keras" else SessionHook
    return cls.current_or_from_config(json_config_path, create_if_not_exists)


def set_hook(custom_hook: Any) -> None:
    """Make ``custom_hook`` (a KerasHook or SessionHook) the one :func:`get_hook` returns."""
    if not isinstance(custom_hook, (KerasHook, SessionHook)):
        raise TypeError(f"set_hook({custom_hook!r}): expected a smdbg.tensorflow KerasHook or SessionHook")
    type(custom_hook).set_current(custom_hook)


def del_hook() -> None:
    """Forget the current hook: :func:`get_hook` returns None until one is created or set."""
    KerasHook.del_current()
