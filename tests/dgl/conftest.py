"""DGL 2.1 on a newer PyTorch: ``import dgl`` needs a placeholder ``dgl.graphbolt`` (graphbolt
imports a torchdata API that no longer exists; GraphConv does not use it)."""

from __future__ import annotations

import os
import sys
import types

sys.modules.setdefault("dgl.graphbolt", types.ModuleType("dgl.graphbolt"))
os.environ.setdefault("DGLBACKEND", "pytorch")
EXAMPLES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples"
)
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)
