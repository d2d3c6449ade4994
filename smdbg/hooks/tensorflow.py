"""TensorFlow hooks: graph-mode ``SessionHook`` and the Keras 3 ``KerasHook`` (also for custom
TF2 loops with ``wrap_tape``). Importing this module imports TensorFlow."""

from __future__ import annotations

from smdbg.hooks._tf_keras import KerasHook, WrappedTape
from smdbg.hooks._tf_session import SessionHook, WrappedOptimizer

EstimatorHook = SessionHook

__all__ = ["SessionHook", "EstimatorHook", "KerasHook", "WrappedOptimizer", "WrappedTape"]
