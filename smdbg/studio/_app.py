"""The studio's Starlette app: the areas' routes, the static folder, error pages and the guard.

Each area is a module with ``routes(studio) -> list[Route]`` (``_experiments``, ``_debugger``,
``_platform``); :data:`AREAS` lists them. Handlers may be plain functions (Starlette runs them
in its thread pool); they raise :class:`StudioHTTPError` (or a tracker ``NotFoundError`` /
``InvalidValueError``) for a page that names the problem, with a link back.

The guard (:class:`Guard`) runs before every request:

* without a token, only a loopback ``Host`` header is served (a web page on another site cannot
  reach the studio through DNS rebinding);
* with a token, a request must carry it: ``Authorization: Bearer <token>``, the
  ``smdbg_studio`` cookie, or ``?token=<token>`` once (answered with a redirect to the same URL
  without it, setting the cookie). Anything else gets 401.
"""

from __future__ import annotations

import hmac
import logging
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smdbg.studio import _debugger, _experiments, _platform
from smdbg.studio._context import Studio, StudioConfig, inside, is_loopback
from smdbg.studio._errors import StudioHTTPError
from smdbg.studio._layout import NAME_KEYS, error_page, page_url

__all__ = ["create_app", "Guard", "STATIC_DIR", "COOKIE"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "smdbg_studio"
AREAS = (_experiments, _debugger, _platform)
_log = logging.getLogger("smdbg.studio")


def _static(request: Request) -> Response:
    target = inside(STATIC_DIR, request.path_params["path"])
    if not target.is_file():
        raise StudioHTTPError(404, f"no static file {request.path_params['path']!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})


def _home(request: Request) -> Response:
    return RedirectResponse("/experiments", status_code=303)


def _error(request: Request, exc: Exception) -> Response:
    from smdbg.tracker import InvalidValueError, NotFoundError, StorageUnavailableError

    if isinstance(exc, StudioHTTPError):
        return error_page(exc.status, exc.message, exc.back)
    if isinstance(exc, NotFoundError):
        return error_page(404, str(exc), ("/experiments", "Back to the experiments"))
    if isinstance(exc, InvalidValueError):
        names = {k: request.query_params.get(k) for k in NAME_KEYS}  # what the page is about stays
        return error_page(400, str(exc), (page_url(request.url.path, **names), "Back to this page without the filters"))
    if isinstance(exc, StorageUnavailableError):
        return error_page(503, str(exc), ("/", "Try again"))
    if isinstance(exc, HTTPException):
        message = f"no page at {request.url.path!r}" if exc.status_code == 404 else str(exc.detail)
        return error_page(exc.status_code, message, ("/", "Back to the studio"))
    _log.error("studio: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_page(500, f"internal error ({type(exc).__name__}); the server log has the details", ("/", "Back"))


def create_app(
    tracker_db_url: str | None = None,
    trial_roots: list[str] | tuple[str, ...] = (),
    platform_root: str | None = None,
    token: str | None = None,
) -> Starlette:
    """The studio as an ASGI app (serve it with :func:`smdbg.studio.serve`, or any ASGI server).
    ``token``: when given, every request must carry it (see the module docstring)."""
    if token is not None and not token.strip():
        from smdbg.studio._errors import StudioError

        raise StudioError("token is empty; give a non-empty token or None")
    studio = Studio(StudioConfig(tracker_db_url, tuple(str(r) for r in trial_roots), platform_root, token))
    routes: list[BaseRoute] = [
        Route("/", _home),
        Route("/static/{path:path}", _static),
    ]
    for area in AREAS:
        routes += area.routes(studio)
    handlers: dict[Any, Any] = {Exception: _error, HTTPException: _error, StudioHTTPError: _error}
    from smdbg.tracker import InvalidValueError, NotFoundError, StorageUnavailableError

    handlers.update({NotFoundError: _error, InvalidValueError: _error, StorageUnavailableError: _error})
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.studio = studio
    app.add_middleware(Guard, token=token)
    return app


class Guard:
    """ASGI middleware: the loopback-host check without a token, the token check with one."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                await _refuse(scope, receive, send, 403, f"host {host!r} is not this machine")
                return
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and self._ok(given[0]):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            target = scope.get("root_path", "") + scope["path"] + ("?" + rest if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        auth = headers.get("authorization", "")
        if (auth.startswith("Bearer ") and self._ok(auth[7:])) or self._ok(_cookie(headers.get("cookie", ""))):
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send, 401, "this studio needs its token: open the URL with ?token=<token>")

    def _ok(self, value: str) -> bool:
        assert self.token is not None
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())


def _cookie(header: str) -> str:
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except CookieError:
        return ""
    return morsel.value if morsel is not None else ""


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await error_page(status, message, ("/", "Back to the studio"))(scope, receive, send)
