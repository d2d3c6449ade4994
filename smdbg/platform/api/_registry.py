"""The operation registry, the context handlers get, and the List* paging every list shares.

A handler is ``fn(ctx, params) -> result``: ``params`` is the validated request, the result a
dict in the operation's output shape (timestamps may be epoch numbers, datetimes or ISO
strings; the protocol layer serialises them). Handlers raise :class:`ApiError` subclasses.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from smdbg.fs import check_path_component
from smdbg.platform.api._protocol import InUse, ValidationError, to_epoch
from smdbg.platform.api._state import ApiState

__all__ = [
    "Context",
    "Handler",
    "OPERATIONS",
    "operation",
    "precheck",
    "dispatch",
    "page",
    "check_name",
    "new_name",
    "now",
    "run_background",
]

log = logging.getLogger("smdbg.api")


@dataclasses.dataclass
class Context:
    """What every handler may use: the state database and the server's root directory."""

    state: ApiState
    root: Path
    live: dict[str, Any] = dataclasses.field(default_factory=dict)  # in-process objects (AutoML runs)
    limits: Any = None  # the server's ServiceLimits (_limits.py); None: the defaults

    def workdir(self, *parts: str) -> Path:
        """A folder under the root (created), e.g. ``models/<name>``; each part is one path component."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
Check = Callable[[Context, dict[str, Any]], None]
OPERATIONS: dict[str, Handler] = {}
PRECHECKS: dict[str, list[Check]] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of SageMaker operation ``name``."""

    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = fn
        return fn

    return register


def precheck(name: str) -> Callable[[Check], Check]:
    """Register ``fn(ctx, params)`` to run before the handler of operation ``name`` (the service
    quotas of ``_limits.py``); it raises an :class:`ApiError` to refuse the request."""

    def register(fn: Check) -> Check:
        PRECHECKS.setdefault(name, []).append(fn)
        return fn

    return register


def dispatch(ctx: Context, name: str, handler: Handler, params: dict[str, Any]) -> dict[str, Any]:
    """Run operation ``name``'s prechecks, then its handler."""
    for check in PRECHECKS.get(name, ()):
        check(ctx, params)
    return handler(ctx, params)


def now() -> float:
    return time.time()


def check_name(value: str, field: str) -> str:
    """A resource name that becomes part of a path: one path component, else ``ValidationException``."""
    try:
        check_path_component(value, field, error=ValueError)
    except ValueError as e:
        raise ValidationError(str(e)) from None
    return value


def new_name(ctx: Context, kind: str, params: dict[str, Any], field: str, what: str) -> str:
    """``params[field]`` checked as a path component and not yet taken by a ``kind`` resource
    (``ResourceInUse`` naming it otherwise)."""
    name = check_name(params[field], field)
    if ctx.state.find(kind, name) is not None:
        raise InUse(f"{what} {name!r} already exists; choose another {field}")
    return name


def run_background(what: str, fn: Callable[[], None]) -> threading.Thread:
    """Run ``fn`` on a daemon thread; an exception is logged (the handler records statuses itself)."""

    def body() -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - a background transition must not kill the server
            log.exception("background task %s failed", what)

    thread = threading.Thread(target=body, name=f"api-{what}", daemon=True)
    thread.start()
    return thread


def _token(params: dict[str, Any]) -> int:
    token = params.get("NextToken")
    if not token:
        return 0
    if not str(token).isdigit():
        raise ValidationError(
            f"NextToken {token!r} is not a token this server returned; pass the NextToken of a previous call"
        )
    return int(token)


def page(
    items: Iterable[dict[str, Any]],
    params: dict[str, Any],
    *,
    name_key: str,
    status_key: str | None = None,
    sort_keys: dict[str, str] | None = None,
    default_sort: str = "CreationTime",
    default_order: str = "Descending",
    default_max: int = 10,
    presorted: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Filter (``NameContains``, ``StatusEquals``, ``CreationTime{After,Before}``,
    ``LastModifiedTime{After,Before}``), sort (``SortBy``, ``SortOrder``) and page
    (``MaxResults``, ``NextToken``) a list; returns the page and the next token. ``presorted``
    keeps the given order."""
    rows = list(items)
    contains = params.get("NameContains")
    if contains:
        rows = [r for r in rows if str(contains).lower() in str(r.get(name_key, "")).lower()]
    if status_key and params.get("StatusEquals"):
        rows = [r for r in rows if r.get(status_key) == params["StatusEquals"]]
    for field, key in (("CreationTime", "CreationTime"), ("LastModifiedTime", "LastModifiedTime")):
        after, before = to_epoch(params.get(f"{field}After")), to_epoch(params.get(f"{field}Before"))
        if after is not None:
            rows = [r for r in rows if (to_epoch(r.get(key)) or 0) > after]
        if before is not None:
            rows = [r for r in rows if (to_epoch(r.get(key)) or 0) < before]
    if not presorted:
        _sort(rows, params, name_key, status_key, sort_keys, default_sort, default_order)
    start = _token(params)
    size = int(params.get("MaxResults") or default_max)
    chunk = rows[start : start + size]
    return chunk, (str(start + size) if start + size < len(rows) else None)


def _sort(rows: list[dict[str, Any]], params: dict[str, Any], name_key: str, status_key: str | None,
          sort_keys: dict[str, str] | None, default_sort: str, default_order: str) -> None:  # fmt: skip
    keys = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key or name_key}
    keys.update(sort_keys or {})
    sort_by = params.get("SortBy") or default_sort
    if sort_by not in keys:
        raise ValidationError(f"SortBy {sort_by!r} is not valid here: expected one of {sorted(keys)}")
    key = keys[sort_by]
    order = params.get("SortOrder") or default_order
    rows.sort(key=lambda r: (r.get(key) is None, _sortable(r.get(key))), reverse=order == "Descending")


def _sortable(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return value
    try:
        return (
            to_epoch(value) if isinstance(value, str) and value[:2].isdigit() and "T" in value else str(value)
        )
    except ValueError:
        return str(value)
