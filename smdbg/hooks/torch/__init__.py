"""The PyTorch hook: :class:`Hook` (``smdbg.pytorch.Hook``). Importing this package imports torch.

Modules: ``_hook`` (the hook: steps, modes, the PyTorch callbacks), ``_register`` and ``_driven``
(its registration calls, and the entry points of the training-framework integrations),
``_attach`` (what is attached to the model, losses and optimizers, as objects), ``_pipeline``
(a step's captures and the steps whose copies are in flight), ``_capture``/``_pending`` (one
step's batched captures and their results), ``_cpu``/``_flat``/``_hist``/``_bins`` (reductions and
histograms on a CPU / on a GPU; exact CPU bin counts), ``_sharded`` (DTensor shards), ``_host_pool`` (host buffers).
"""

from smdbg.hooks.torch._capture import flatten_tensors
from smdbg.hooks.torch._hook import Hook

__all__ = ["Hook", "flatten_tensors"]
