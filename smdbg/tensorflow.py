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
from smdbg.hook_config import find_config_path  # noqa: E402
from smdbg.hooks.base import current_hook  # noqa: E402
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
    hook_type: str | None = None, json_config_path: str | None = None, create_if_not_exists: bool = False
) -> Any:
    """The current TensorFlow hook (smdebug's signature). ``hook_type`` ("keras", "session" or
    "estimator") picks the class: a current hook of another class is not returned, and with
    ``create_if_not_exists`` one of that class is made from the JSON config
    (``json_config_path`` or ``$SMDBG_CONFIG_FILE_PATH``). None when there is neither."""
    classes = {"keras": KerasHook, "session": SessionHook, "estimator": EstimatorHook, None: None}
    if hook_type not in classes:
        raise ValueError(f"get_hook(hook_type={hook_type!r}): expected 'keras', 'session', 'estimator' or None")
    cls = classes[hook_type]
    current = current_hook("tensorflow")
    if cls is None:
        if create_if_not_exists:
            raise ValueError("get_hook(create_if_not_exists=True) needs hook_type='keras', 'session' or 'estimator'")
        return current
    if isinstance(current, cls):
        return current
    if create_if_not_exists and find_config_path(json_config_path) is not None:
        return cls.create_from_json_file(json_config_path)
    return None


def set_hook(custom_hook: Any) -> None:
    """Make ``custom_hook`` (a KerasHook or SessionHook) the one :func:`get_hook` returns."""
    if not isinstance(custom_hook, (KerasHook, SessionHook)):
        raise TypeError(f"set_hook({custom_hook!r}): expected a smdbg.tensorflow KerasHook or SessionHook")
    type(custom_hook).set_current(custom_hook)


def del_hook() -> None:
    """Forget the current hook: :func:`get_hook` returns None until one is created or set."""
    KerasHook.del_current()
