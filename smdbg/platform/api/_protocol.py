"""SageMaker's JSON 1.1 wire protocol: the service model, input validation, AWS-shaped errors and
output serialisation, all from botocore's own description of the service.

The server never keeps its own copy of SageMaker's shapes: what a request may hold is what
``botocore.session.get_session().get_service_model("sagemaker")`` says, checked by botocore's
``ParamValidator``, so the real boto3 client and this server agree by construction.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

__all__ = [
    "ApiError",
    "ValidationError",
    "NotFound",
    "InUse",
    "LimitExceeded",
    "service_model",
    "runtime_model",
    "validate_input",
    "as_modelled",
    "operation_model",
    "serialise_output",
    "error_body",
    "to_epoch",
    "JSON_CONTENT_TYPE",
]

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


class ApiError(Exception):
    """An error the client sees as ``ClientError`` with ``code`` (``__type``) and ``message``."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ValidationError(ApiError):
    code, status = "ValidationException", 400


class NotFound(ApiError):
    code, status = "ResourceNotFound", 400


class InUse(ApiError):
    code, status = "ResourceInUse", 400


class LimitExceeded(ApiError):
    code, status = "ResourceLimitExceeded", 400


@functools.cache
def service_model() -> Any:
    """botocore's model of the ``sagemaker`` service (loaded once)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def runtime_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker-runtime")


@functools.cache
def _validator() -> Any:
    from botocore.validate import ParamValidator

    return ParamValidator()


def operation_model(name: str) -> Any:
    """The botocore operation model, or ``UnknownOperationException`` naming the operation."""
    model = service_model()
    if name not in model.operation_names:
        raise ApiError(
            f"operation {name!r} is not a SageMaker operation (X-Amz-Target: SageMaker.<Operation>, "
            "e.g. SageMaker.DescribeEndpoint)",
            code="UnknownOperationException",
            status=400,
        )
    return model.operation_model(name)


def as_modelled(op: Any, error: ApiError) -> ApiError:
    """``error`` as the operation reports it: SageMaker answers a missing or clashing resource
    with ``ValidationException`` where the operation's model lists no ``ResourceNotFound`` /
    ``ResourceInUse`` (DescribeEndpoint, CreateModel, ...), which botocore's waiters rely on."""
    if error.code in {e.name for e in op.error_shapes}:
        return error
    return ValidationError(error.message)


def validate_input(op: Any, params: Any) -> dict[str, Any]:
    """Check a request body against the operation's input shape; ``ValidationException`` lists
    every problem botocore finds (each names its field)."""
    if not isinstance(params, dict):
        raise ValidationError(f"request body is {type(params).__name__}: expected a JSON object")
    if op.input_shape is None:
        return params
    report = _validator().validate(params, op.input_shape)
    if report.has_errors():
        raise ValidationError("; ".join(report.generate_report().splitlines()))
    return params


def to_epoch(value: Any) -> float | None:
    """Seconds since the epoch (what botocore's JSON parser reads) of a datetime, an ISO 8601
    string or a number; None for None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"timestamp {value!r} is a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    raise TypeError(f"timestamp {value!r} is a {type(value).__name__}")


def _walk(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "timestamp":
        return to_epoch(value)
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: (_walk(members[k], v) if k in members else v) for k, v in value.items() if v is not None}
    if kind == "list" and isinstance(value, (list, tuple)):
        return [_walk(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _walk(shape.value, v) for k, v in value.items()}
    return value


def serialise_output(op: Any, result: dict[str, Any]) -> bytes:
    """The response body: timestamps as epoch seconds where the output shape has a timestamp,
    None values left out."""
    body = _walk(op.output_shape, result) if op.output_shape is not None else {}
    return json.dumps(body, default=str).encode()


def error_body(error: ApiError) -> bytes:
    return json.dumps({"__type": error.code, "message": error.message}).encode()
