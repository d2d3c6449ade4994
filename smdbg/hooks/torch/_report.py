"""The PyTorch hook's part of the save report: why a registered parameter, its gradient or a
module's inputs/outputs asked for by the included collections were never saved, and the dtypes
the capture cannot save (skipped and reported instead of failing the training step)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.hooks._report import Asked
from smdbg.hooks.torch._attach import TorchTargets
from smdbg.trial._report import NotSaved

__all__ = ["SUPPORTED_DTYPES", "drop_unsupported", "torch_unsaved"]

#: dtypes the capture reduces and copies (bfloat16 and the two OCP float8 kinds widened to float32)
SUPPORTED_DTYPES = frozenset({
    torch.float16, torch.float32, torch.float64, torch.bfloat16, torch.complex64, torch.complex128,
    torch.bool, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
    torch.float8_e4m3fn, torch.float8_e5m2,
})  # fmt: skip
_IO = re.compile(r"^(.*?)(?:_call\d+)?_(input|output)_\d+$")

Planned = tuple[str, TensorPlan, torch.Tensor]


def drop_unsupported(group: Sequence[Planned], unsupported: dict[str, str]) -> list[Planned]:
    """``group`` without tensors of a dtype the capture cannot save; those go to ``unsupported``
    (name -> dtype) for the report."""
    keep = []
    for item in group:
        t = item[2]
        if t.dtype in SUPPORTED_DTYPES and not t.is_quantized:
            keep.append(item)
        else:
            unsupported.setdefault(item[0], str(t.dtype).replace("torch.", ""))
    return keep


def torch_unsaved(targets: TorchTargets, asked: Asked, saved: Mapping[str, Any], called: set[int]) -> Iterator[NotSaved]:
    """Registered parameters, gradients and module inputs/outputs the included collections ask
    for that were never saved, each with its reason."""
    for full, p in targets.params:
        colls = asked.collections(full)
        if colls and full not in saved:
            yield NotSaved(full, colls, asked.reason(colls) or "no_tensor")
        gname = f"gradient/{full}"
        colls = asked.collections(gname)
        if colls and gname not in saved:
            why = asked.reason(colls) or ("no_gradient" if p.requires_grad else "frozen")
            yield NotSaved(gname, colls, why)
    seen = set()
    for name in saved:
        m = _IO.match(name)
        if m:
            seen.add((m.group(1), m.group(2)))
    for module, name in targets.module_names.items():
        for kind in ("output", "input"):
            first = f"{name}_{kind}_0"
            colls = asked.collections(first)
            if colls and (name, kind) not in seen:
                why = asked.reason(colls) or ("no_tensor" if id(module) in called else "module_not_called")
                yield NotSaved(first, colls, why)
