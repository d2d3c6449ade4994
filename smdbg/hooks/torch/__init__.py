"""The PyTorch hook: :class:`Hook` (``smdbg.pytorch.Hook``). Importing this package imports torch.

Modules: ``_hook`` (the hook: steps, modes, capture hand-over), ``_attach`` (what is attached to
the model, losses and optimizers, as objects), ``_capture`` (one step's batched captures),
``_cpu``/``_flat`` (reductions on a CPU / on a GPU), ``_host_pool`` (reusable host buffers).
"""

from smdbg.hooks.torch._capture import flatten_tensors
from smdbg.hooks.torch._hook import Hook

__all__ = ["Hook", "flatten_tensors"]
