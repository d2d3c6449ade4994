"""Callbacks that put a smdbg hook into a training framework's loop with one line.

* :mod:`smdbg.integrations.transformers`: ``SmdbgCallback`` for Hugging Face ``Trainer``
  (``pip install 'smdbg[transformers]'``).
* :mod:`smdbg.integrations.lightning`: ``SmdbgCallback`` for Lightning's ``Trainer``
  (``pip install 'smdbg[lightning]'``).

Each is imported on its own, so that importing one does not import the other framework. See
docs/integrations.md.
"""

__all__: list[str] = []
