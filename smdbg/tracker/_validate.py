"""Input checks shared by the front-end classes. Each error names the value and what was expected."""

from __future__ import annotations

import math
import numbers
import operator
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from smdbg.tracker._errors import InvalidValueError

__all__ = ["check_name", "check_metric", "check_iteration", "check_parameter", "check_tags", "to_epoch", "new_name"]

_MAX_NAME = 256


def new_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y-%m-%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise InvalidValueError(
            f"{kind} name {name!r} is not valid; expected a non-empty string of at most {_MAX_NAME} characters"
        )
    if any(ord(ch) < 32 for ch in name):
        raise InvalidValueError(f"{kind} name {name!r} contains control characters; use printable characters")
    return name


def check_metric(metric_name: object, value: object) -> float:
    """The metric value as a finite float, or InvalidValueError."""
    if type(value) is float:  # fast path
        f = value
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        f = float(value)
    else:
        raise InvalidValueError(
            f"metric {metric_name!r} got value {value!r} of type {type(value).__name__}; "
            "expected a real number (int or float)"
        )
    if not math.isfinite(f):
        raise InvalidValueError(
            f"metric {metric_name!r} got value {value!r}; expected a finite number (not NaN or inf), "
            "skip or clip the point before logging it"
        )
    return f


#: iteration numbers are stored as signed 64-bit integers; the lowest one means "none given"
MIN_ITERATION, MAX_ITERATION = -(2**63) + 1, 2**63 - 1


def check_iteration(metric_name: object, iteration: object) -> int:
    """The iteration number as an int in the stored range, or InvalidValueError."""
    try:
        if isinstance(iteration, bool):
            raise TypeError
        it = operator.index(iteration)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidValueError(
            f"metric {metric_name!r} got iteration_number {iteration!r}; expected an int or None"
        ) from None
    if not MIN_ITERATION <= it <= MAX_ITERATION:
        raise InvalidValueError(
            f"metric {metric_name!r} got iteration_number {iteration!r}; expected an int from "
            f"{MIN_ITERATION} to {MAX_ITERATION} (a signed 64-bit integer)"
        )
    return int(it)


def check_parameter(name: object, value: object) -> str | float:
    check_name("parameter", name)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isfinite(f):
            return f
        raise InvalidValueError(
            f"parameter {name!r} got value {value!r}; expected a finite number or a string"
        )
    raise InvalidValueError(
        f"parameter {name!r} got value {value!r} of type {type(value).__name__}; expected a number or a string"
    )


def check_tags(tags: object) -> dict[str, str]:
    """Tags as a dict; accepts a mapping or smexperiments' list of {"Key": ..., "Value": ...}."""
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, Iterable) and not isinstance(tags, (str, bytes)):
        out = {}
        for t in tags:
            if not (isinstance(t, Mapping) and "Key" in t):
                raise InvalidValueError(f"tag {t!r} is not valid; expected {{'Key': ..., 'Value': ...}}")
            out[str(t["Key"])] = str(t.get("Value", ""))
        return out
    raise InvalidValueError(
        f"tags {tags!r} are not valid; expected a dict or a list of {{'Key', 'Value'}} dicts"
    )


def to_epoch(t: Any, what: str = "timestamp") -> float:
    if t is None:
        return time.time()
    if isinstance(t, datetime):
        return t.timestamp()
    if isinstance(t, numbers.Real) and not isinstance(t, bool) and math.isfinite(float(t)):
        return float(t)
    raise InvalidValueError(f"{what} {t!r} is not valid; expected a datetime or seconds since the epoch")
