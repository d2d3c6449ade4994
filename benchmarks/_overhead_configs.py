"""The four hook configurations every framework's overhead cases run (no framework import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["CONFIGS", "HISTOGRAM_CONFIGS", "hook_kwargs"]

CONFIGS: dict[str, dict[str, Any]] = {
    "defaults (losses, every 500)": {},
    "w+b+grads reductions every 10": {"collections": ["weights", "biases", "gradients"], "interval": 10, "reduce": True},
    "w+b+grads raw every 10": {"collections": ["weights", "biases", "gradients"], "interval": 10},
    "save_all every step": {"save_all": True, "interval": 1},
}  # fmt: skip

#: Configurations only the PyTorch hook has: histograms of every weight, bias and gradient (the
#: target: at most twice the overhead of the reductions row).
HISTOGRAM_CONFIGS: dict[str, dict[str, Any]] = {
    "w+b+grads histogram(64) every 10": {"collections": ["weights", "biases", "gradients"], "interval": 10,
                                         "histogram": 64},
}  # fmt: skip


def hook_kwargs(smd: Any, cfg: dict[str, Any], extra_collections: Sequence[str] = ()) -> dict[str, Any]:
    """Hook constructor arguments for one configuration (``smd`` is the framework module)."""
    kw: dict[str, Any] = {}
    if "collections" in cfg:
        kw["include_collections"] = [*cfg["collections"], *extra_collections]
    if "interval" in cfg:
        kw["save_config"] = smd.SaveConfig(save_interval=cfg["interval"])
    if cfg.get("reduce"):
        kw["reduction_config"] = smd.ReductionConfig(
            reductions=["mean"], abs_reductions=["max"], norms=["l2"]
        )
    if cfg.get("histogram"):  # PyTorch only (HISTOGRAM_CONFIGS)
        kw["reduction_config"] = smd.ReductionConfig(histogram=cfg["histogram"])
    if cfg.get("save_all"):
        kw["save_all"] = True
    return kw
