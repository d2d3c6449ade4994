"""The TensorFlow hooks: graph-mode :class:`SessionHook` and the Keras 3 :class:`KerasHook`
(also for custom TF2 loops with ``wrap_tape``). Importing this package imports TensorFlow.

Modules: ``_common`` (in-graph reductions, naming, the TF hook base), ``_session`` (the
``SessionRunHook`` and its graph attachment), ``_keras`` (the callback, tape and optimizer
probes), ``_keras_step`` (compiled saving steps for ``fit``/``evaluate``/``predict``).
"""

from smdbg.hooks.tf._keras import KerasHook, WrappedTape
from smdbg.hooks.tf._session import SessionHook, WrappedOptimizer

EstimatorHook = SessionHook

__all__ = ["SessionHook", "EstimatorHook", "KerasHook", "WrappedOptimizer", "WrappedTape"]
