"""The store contract suite over a local directory, fsspec's memory filesystem and a real S3 server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from smdbg.testing.store_contract import StoreContract


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return str(tmp_path / "trial")


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store_url(self) -> str:
        return f"memory://smdbg-{uuid.uuid4().hex}/trial"


class TestS3Store(StoreContract):
    @pytest.fixture
    def store_url(self, s3_bucket: str) -> str:
        return f"s3://{s3_bucket}/runs/trial"
