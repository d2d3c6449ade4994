"""Import MXNet once, turning every way it can fail into one ImportError that says what works."""

from __future__ import annotations

from typing import Any

__all__ = ["import_mxnet", "SUPPORTED"]

SUPPORTED = "MXNet 1.x with Gluon forward hooks (tested with 1.9.1, the last release) and numpy < 1.24"


def _numpy_version() -> str:
    try:
        import numpy

        return str(numpy.__version__)
    except Exception:  # pragma: no cover - numpy is a core dependency
        return "not importable"


def import_mxnet() -> Any:
    """The ``mxnet`` module, or ImportError naming the supported versions and the fix."""
    try:
        import mxnet
    except ImportError as e:
        raise ImportError(
            f"smdbg.mxnet needs {SUPPORTED}, and mxnet is not installed ({e}). Install it with "
            "pip install 'mxnet==1.9.1' 'numpy<1.24' in an environment of its own, or run "
            "bash scripts/setup_mxnet_env.sh (creates .venv-mxnet)."
        ) from e
    except Exception as e:
        # mxnet 1.9.1 uses np.bool, removed in numpy 1.24: importing it there fails in mxnet's own code.
        raise ImportError(
            f"smdbg.mxnet needs {SUPPORTED}; mxnet is installed but cannot be imported with numpy "
            f"{_numpy_version()}: {type(e).__name__}: {' '.join(str(e).split())} Use numpy 1.23 (pip install 'numpy<1.24') "
            "in an environment of its own, e.g. bash scripts/setup_mxnet_env.sh."
        ) from e
    if not hasattr(mxnet, "gluon") or not hasattr(mxnet.gluon.Block, "register_forward_hook"):
        raise ImportError(
            f"smdbg.mxnet needs {SUPPORTED}; the installed mxnet {getattr(mxnet, '__version__', '?')} "
            "has no Gluon forward hooks (mxnet.gluon.Block.register_forward_hook)."
        )
    return mxnet
