"""The endpoint server process: ``python -m smdbg.platform.serving._server --record PATH``.

A Starlette app served by uvicorn on 127.0.0.1: ``GET /ping`` (200 once the model is loaded),
``POST /invocations`` and ``GET /capture/stats``. SIGTERM makes uvicorn stop accepting, finish
in-flight requests and run the lifespan shutdown, which flushes the capture writer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smdbg.platform.serving._capture import DataCaptureConfig
from smdbg.platform.serving._capture_writer import CaptureWriter
from smdbg.platform.serving._errors import BadRequest
from smdbg.platform.serving._loader import ModelHandler, resolve_model_dir
from smdbg.platform.serving._state import EndpointRecord

__all__ = ["build_app", "main"]

log = logging.getLogger("smdbg.serving")


def build_app(handler: ModelHandler, writer: CaptureWriter | None) -> Starlette:
    """The ASGI app around a loaded model and an optional capture writer."""
    config = writer.config if writer is not None else None

    async def ping(request: Request) -> Response:
        return Response(b"", status_code=200)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        content_type = request.headers.get("content-type", "application/json")
        accept = request.headers.get("accept")
        try:
            # Scoring runs on the event loop: a small model answers in well under a millisecond,
            # where a thread hop would cost more than the work.
            out, out_type = handler.invoke(body, content_type, accept)
        except BadRequest as e:
            return PlainTextResponse(str(e), status_code=e.status)
        except Exception as e:
            log.exception("model error")
            return PlainTextResponse(f"model error: {type(e).__name__}: {e}", status_code=500)
        if writer is not None and config is not None and config.sampled():
            writer.submit(
                body, content_type, out, out_type, request.headers.get("x-amzn-sagemaker-inference-id")
            )
        return Response(out, media_type=out_type)

    async def capture_stats(request: Request) -> Response:
        return JSONResponse(writer.stats() if writer is not None else {"enabled": False})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
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


def _load(record: EndpointRecord) -> tuple[ModelHandler, CaptureWriter | None]:
    model_dir = resolve_model_dir(record.model_data)
    handler = ModelHandler(model_dir, record.framework, record.entry_point)
    writer = None
    if record.capture:
        cfg = DataCaptureConfig.from_dict(record.capture)
        if cfg.enable_capture:
            writer = CaptureWriter(cfg, record.name, record.variant)
    return handler, writer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smdbg-endpoint")
    parser.add_argument("--record", required=True, help="endpoint record JSON written by Model.deploy")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data: dict[str, Any] = json.loads(Path(args.record).read_text())
    record = EndpointRecord.from_dict(data)
    try:
        handler, writer = _load(record)
    except Exception as e:
        print(
            f"endpoint {record.name!r} failed to start: {type(e).__name__}: {e}", file=sys.stderr, flush=True
        )
        return 1
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            build_app(handler, writer),
            host="127.0.0.1",
            port=record.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    server.run()
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
