"""``smdbg.hooks.pytorch``: the PyTorch hook's import path before the ``torch/`` folder (kept)."""

from smdbg.hooks.torch import Hook, flatten_tensors

__all__ = ["Hook", "flatten_tensors"]
