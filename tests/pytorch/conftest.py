"""Shared helpers for the PyTorch hook tests: a small model and a training loop."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(autouse=True)
def _seed() -> Iterator[None]:
    torch.manual_seed(0)
    yield
