"""``smdbg.hooks.tensorflow``: the TensorFlow hooks' import path before the ``tf/`` folder (kept)."""

from smdbg.hooks.tf import EstimatorHook, KerasHook, SessionHook, WrappedOptimizer, WrappedTape

__all__ = ["SessionHook", "EstimatorHook", "KerasHook", "WrappedOptimizer", "WrappedTape"]
