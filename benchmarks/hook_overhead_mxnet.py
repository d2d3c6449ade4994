"""Hook overhead for MXNet Gluon: ms/step with and without the hook, ratio against the plain loop.

Run in the MXNet environment: bash scripts/setup_mxnet_env.sh && .venv-mxnet/bin/python
benchmarks/hook_overhead_mxnet.py [--steps 200]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _overhead_mxnet import main  # noqa: E402

if __name__ == "__main__":
    main()
