"""The endpoint server process: ``python -m smdbg.platform.serving._server --record PATH``.

One instance of an endpoint: a Starlette app served by uvicorn on the two listening sockets the
deploying process handed it (``--fds SHARED,OWN``, see :mod:`smdbg.platform.serving._launch`):
``GET /ping`` (200 once the model is loaded), ``POST /invocations`` and ``GET /capture/stats``.
Every response carries ``X-Smdbg-Instance: <k>``. SIGTERM makes uvicorn stop accepting, finish
in-flight requests and run the lifespan shutdown, which flushes the capture writer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smdbg.platform.serving._capture import DataCaptureConfig
from smdbg.platform.serving._capture_writer import CaptureWriter
from smdbg.platform.serving._errors import BadRequest
from smdbg.platform.serving._http import BodyRefused, protocol_class, read_body
from smdbg.platform.serving._limits import EndpointLimits
from smdbg.platform.serving._loader import ModelHandler, resolve_model_dir
from smdbg.platform.serving._state import EndpointRecord, extract_dir, orphan_spill_dirs, spill_dir

__all__ = ["build_app", "main"]

log = logging.getLogger("smdbg.serving")


class _Scorer:
    """Scores requests on a pool of ``max_concurrency`` threads, admitting at most
    ``max_concurrency + max_queued`` at once (the rest are told to come back: 503). The counter
    is touched only on the event loop's thread, so it needs no lock."""

    def __init__(self, handler: ModelHandler, writer: CaptureWriter | None, limits: EndpointLimits) -> None:
        self.handler = handler
        self.writer = writer
        self.capacity = limits.max_concurrency + limits.max_queued
        self.inflight = 0
        self.pool = ThreadPoolExecutor(limits.max_concurrency, thread_name_prefix="smdbg-score")

    def _score(
        self, body: bytes, content_type: str, accept: str | None, inference_id: str | None
    ) -> tuple[bytes, str]:
        out, out_type = self.handler.invoke(body, content_type, accept)
        writer = self.writer
        if writer is not None and writer.config.sampled():
            writer.submit(body, content_type, out, out_type, inference_id)
        return out, out_type

    async def score(
        self, body: bytes, content_type: str, accept: str | None, inference_id: str | None
    ) -> Response:
        if self.inflight >= self.capacity:
            return PlainTextResponse(
                f"endpoint is saturated ({self.inflight} requests in progress or queued); retry shortly",
                status_code=503,
                headers={"retry-after": "1"},
            )
        self.inflight += 1
        try:
            loop = asyncio.get_running_loop()
            out, out_type = await loop.run_in_executor(
                self.pool, self._score, body, content_type, accept, inference_id
            )
        except BadRequest as e:
            return PlainTextResponse(str(e), status_code=e.status)
        except Exception as e:
            log.exception("model error")
            return PlainTextResponse(f"model error: {type(e).__name__}: {e}", status_code=500)
        finally:
            self.inflight -= 1
        return Response(out, media_type=out_type)


def build_app(
    handler: ModelHandler, writer: CaptureWriter | None, limits: EndpointLimits | None = None
) -> Starlette:
    """The ASGI app around a loaded model and an optional capture writer.

    The event loop only moves bytes: bodies are read within ``limits`` (413/408), and decoding,
    scoring and encoding run on the scorer's threads, so ``/ping`` answers while a model works.
    """
    limits = limits or EndpointLimits()
    handler.max_json_depth = limits.max_json_depth
    scorer = _Scorer(handler, writer, limits)

    async def ping(request: Request) -> Response:
        return Response(b"", status_code=200)

    async def invocations(request: Request) -> Response:
        try:
            body = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
        except BodyRefused as e:  # the rest of the body is not read: close the connection
            return PlainTextResponse(str(e), status_code=e.status, headers={"connection": "close"})
        headers = request.headers
        return await scorer.score(
            body,
            headers.get("content-type", "application/json"),
            headers.get("accept"),
            headers.get("x-amzn-sagemaker-inference-id"),
        )

    async def capture_stats(request: Request) -> Response:
        return JSONResponse(writer.stats() if writer is not None else {"enabled": False})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            scorer.pool.shutdown(wait=True)
            if writer is not None:
                writer.close()

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/capture/stats", capture_stats, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


class _InstanceHeader:
    """ASGI wrapper: every HTTP response names the instance that made it (``X-Smdbg-Instance``)."""

    def __init__(self, app: ASGIApp, instance: int) -> None:
        self.app = app
        self.header = (b"x-smdbg-instance", str(instance).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)


def _load(record: EndpointRecord, instance: int) -> tuple[ModelHandler, CaptureWriter | None]:
    model_dir = resolve_model_dir(record.model_data, str(extract_dir(record.name, instance)))
    handler = ModelHandler(model_dir, record.framework, record.entry_point)
    writer = None
    if record.capture:
        cfg = DataCaptureConfig.from_dict(record.capture)
        if cfg.enable_capture:
            adopt = orphan_spill_dirs(record.name, record.instance_count) if instance == 0 else []
            writer = CaptureWriter(cfg, record.name, record.variant, instance=instance,
                                   spill_to=str(spill_dir(record.name, instance)), adopt_spills=adopt)  # fmt: skip
    return handler, writer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smdbg-endpoint")
    parser.add_argument("--record", required=True, help="endpoint record JSON written by Model.deploy")
    parser.add_argument("--instance", type=int, default=0, help="this instance's number (0..N-1)")
    parser.add_argument("--fds", required=True, help="SHARED,OWN: the inherited listening sockets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data: dict[str, Any] = json.loads(Path(args.record).read_text())
    record = EndpointRecord.from_dict(data)
    limits = EndpointLimits.from_dict(record.limits)
    try:
        try:
            handler, writer = _load(record, args.instance)
        except Exception as e:
            print(
                f"endpoint {record.name!r} failed to start: {type(e).__name__}: {e}",
                file=sys.stderr,
                flush=True,
            )
            return 1
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(
                _InstanceHeader(build_app(handler, writer, limits), args.instance),
                http=protocol_class(limits.header_timeout_s),
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=10,
            )
        )
        server.run(sockets=[socket.socket(fileno=int(fd)) for fd in args.fds.split(",")])
        if writer is not None:
            writer.close()
        return 0
    finally:  # an extracted .tar.gz lives as long as the server
        shutil.rmtree(extract_dir(record.name, args.instance), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
