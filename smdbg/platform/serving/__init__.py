"""Local model endpoints with data capture.

``Model(model_data).deploy(data_capture_config=DataCaptureConfig(...))`` starts uvicorn servers,
``initial_instance_count`` processes behind one port (``GET /ping``, ``POST /invocations``), and
returns a :class:`Predictor`.
Captured requests and responses are written in the SageMaker data-capture JSONL format.
"""

from __future__ import annotations

from smdbg.platform.serving._capture import DataCaptureConfig
from smdbg.platform.serving._errors import (
    BadRequest,
    CodeExecutionWarning,
    EndpointError,
    EndpointNotFound,
    InvocationError,
    ModelLoadError,
    ServingError,
)
from smdbg.platform.serving._limits import EndpointLimits
from smdbg.platform.serving._model import Model
from smdbg.platform.serving._predictor import Predictor, delete_endpoint, list_endpoints
from smdbg.platform.serving._state import smdbg_home

__all__ = [
    "Model",
    "Predictor",
    "DataCaptureConfig",
    "EndpointLimits",
    "list_endpoints",
    "delete_endpoint",
    "smdbg_home",
    "ServingError",
    "ModelLoadError",
    "EndpointError",
    "EndpointNotFound",
    "InvocationError",
    "BadRequest",
    "CodeExecutionWarning",
]
