"""The MXNet Gluon hook (``smdbg.mxnet.Hook``). Importing this package imports MXNet, or raises
an ImportError that names the versions that work and how to install them.

Modules: ``_import`` (the one guarded ``import mxnet``), ``_hook`` (the hook), ``_attach`` (the
blocks and trainers it is attached to, as an object).
"""

from smdbg.hooks.mxnet._import import import_mxnet

import_mxnet()  # ImportError naming the working versions when mxnet is missing or broken

from smdbg.hooks.mxnet._hook import GRADIENT_PREFIX, Hook, flatten_ndarrays  # noqa: E402

__all__ = ["Hook", "flatten_ndarrays", "GRADIENT_PREFIX", "import_mxnet"]
