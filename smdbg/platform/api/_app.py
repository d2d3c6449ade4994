"""The ASGI app: SageMaker's JSON 1.1 control plane on ``POST /`` and the runtime's
``POST /endpoints/{name}/invocations``.

Every request: (optional) SigV4 check -> ``X-Amz-Target`` -> operation model -> JSON body ->
botocore validation -> handler on a worker thread -> output serialised per the output shape.
Errors leave as ``{"__type": code, "message": ...}`` with the status AWS uses.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smdbg.platform.api import _protocol as proto
from smdbg.platform.api._auth import Credentials, verify_request
from smdbg.platform.api._registry import OPERATIONS, Context, dispatch

__all__ = ["build_app"]

log = logging.getLogger("smdbg.api")


def _error(error: proto.ApiError, runtime: bool = False) -> Response:
    headers = {"x-amzn-ErrorType": error.code} if runtime else {}
    media = "application/json" if runtime else proto.JSON_CONTENT_TYPE
    return Response(proto.error_body(error), status_code=error.status, media_type=media, headers=headers)


def _url(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    host = request.headers.get("host", "localhost")
    return f"http://{host}{raw.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")


def build_app(ctx: Context, credentials: Credentials | None = None) -> Starlette:
    """The Starlette app over ``ctx``; with ``credentials`` every request must be SigV4-signed."""

    async def check_auth(request: Request, body: bytes) -> None:
        if credentials is not None:
            verify_request(credentials, request.method, _url(request), dict(request.headers), body)

    async def control_plane(request: Request) -> Response:
        body = await request.body()
        try:
            await check_auth(request, body)
            target = request.headers.get("x-amz-target", "")
            service, _, name = target.partition(".")
            if service != "SageMaker" or not name:
                raise proto.ApiError(
                    f"X-Amz-Target {target!r} is not SageMaker.<Operation> (e.g. SageMaker.ListEndpoints)",
                    code="UnknownOperationException",
                    status=400,
                )
            op = proto.operation_model(name)
            handler = OPERATIONS.get(name)
            if handler is None:
                raise proto.ApiError(
                    f"operation {name!r} is a SageMaker operation this server does not implement; "
                    "docs/api.md lists the ones it does",
                    code="UnknownOperationException",
                    status=400,
                )
            try:
                params: Any = json.loads(body) if body.strip() else {}
            except ValueError as e:
                raise proto.ApiError(
                    f"request body is not JSON ({e})", code="SerializationException", status=400
                ) from None
            proto.validate_input(op, params)
            try:
                result = await run_in_threadpool(dispatch, ctx, name, handler, params)
            except (proto.NotFound, proto.InUse, proto.LimitExceeded) as e:
                raise proto.as_modelled(op, e) from None
            return Response(proto.serialise_output(op, result), media_type=proto.JSON_CONTENT_TYPE)
        except proto.ApiError as e:
            log.info("%s -> %s", request.headers.get("x-amz-target", "?"), e.code)
            return _error(e)
        except Exception as e:  # noqa: BLE001 - an internal error answers 500, the server lives on
            log.exception("internal error in %s", request.headers.get("x-amz-target", "?"))
            return _error(proto.ApiError(f"internal error: {type(e).__name__}: {e}"))

    async def invocations(request: Request) -> Response:
        from smdbg.platform.api._ops_endpoints import invoke_endpoint

        body = await request.body()
        try:
            await check_auth(request, body)
            status, ctype, out, variant = await run_in_threadpool(
                invoke_endpoint, ctx, request.path_params["name"], body, dict(request.headers)
            )
        except proto.ApiError as e:
            return _error(e, runtime=True)
        headers = {"x-Amzn-Invoked-Production-Variant": variant}
        return Response(
            out, status_code=status, media_type=ctype or "application/octet-stream", headers=headers
        )

    async def ping(request: Request) -> Response:
        return Response(b"", status_code=200)

    return Starlette(
        routes=[
            Route("/", control_plane, methods=["POST"]),
            Route("/endpoints/{name}/invocations", invocations, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
        ]
    )
