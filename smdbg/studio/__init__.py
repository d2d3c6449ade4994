"""smdbg studio: a web UI over the tracker's experiments, debugger trials and the platform's jobs,
served by the library itself (Starlette + uvicorn, plain JavaScript, no Node).

    import smdbg.studio
    handle = smdbg.studio.serve(port=8080)      # in a notebook; handle.url, handle.stop()

or ``smdbg studio [--host 127.0.0.1] [--port 8080]``. See docs/studio.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "serve", "StudioServer", "StudioError"]

if TYPE_CHECKING:
    from smdbg.studio._app import create_app
    from smdbg.studio._errors import StudioError
    from smdbg.studio._server import StudioServer, serve


def __getattr__(name: str) -> Any:  # Starlette and uvicorn load only when the studio is used
    if name == "create_app":
        from smdbg.studio._app import create_app

        return create_app
    if name in ("serve", "StudioServer"):
        from smdbg.studio import _server

        return getattr(_server, name)
    if name == "StudioError":
        from smdbg.studio._errors import StudioError

        return StudioError
    raise AttributeError(f"module 'smdbg.studio' has no attribute {name!r}")
