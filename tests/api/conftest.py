"""Fixtures: ``smdbg api serve`` in a subprocess on 127.0.0.1 (with the moto S3 server), and real
boto3 ``sagemaker`` / ``sagemaker-runtime`` clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("starlette")

from _api_server import ApiServer, start_api_server, stop_api_server  # noqa: E402


@pytest.fixture(scope="session")
def api_server(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_api_server(tmp_path_factory.mktemp("api"))
    try:
        yield server
    finally:
        stop_api_server(server)


@pytest.fixture
def sm(api_server: ApiServer) -> Any:
    """A boto3 ``sagemaker`` client on the test server."""
    return api_server.client()


@pytest.fixture
def sm_runtime(api_server: ApiServer) -> Any:
    return api_server.client("sagemaker-runtime")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny scikit-learn model folder (``model.joblib``: y = x1 + x2), the artifact endpoints serve."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    folder = tmp_path_factory.mktemp("model")
    x = np.arange(20, dtype=float).reshape(10, 2)
    joblib.dump(LinearRegression().fit(x, x.sum(axis=1)), folder / "model.joblib")
    return folder
