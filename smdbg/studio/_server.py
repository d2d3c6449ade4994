"""Serving the studio: :func:`serve` runs uvicorn on a background thread and returns a handle
(``.url``, ``.stop()``, ``.wait()``), so a notebook keeps working while the studio runs and the
command line waits on the same handle."""

from __future__ import annotations

import threading
import time
from typing import Any

from smdbg._optional import require
from smdbg.studio._context import is_loopback
from smdbg.studio._errors import StudioError

__all__ = ["serve", "StudioServer"]


class StudioServer:
    """A running studio. ``url`` is where it answers (with ``?token=...`` when it has a token, so
    the URL opens in a browser as is); ``stop()`` is idempotent."""

    def __init__(self, server: Any, thread: threading.Thread, host: str, port: int, token: str | None) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self.url = self.base_url + "/" + (f"?token={token}" if token else "")

    def __repr__(self) -> str:
        return f"StudioServer({self.base_url!r})"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in a terminal stops it)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> StudioServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    tracker_db_url: str | None = None,
    trial_roots: list[str] | tuple[str, ...] = (),
    platform_root: str | None = None,
    token: str | None = None,
    log_level: str = "warning",
    startup_timeout: float = 30.0,
) -> StudioServer:
    """Start the studio on ``host:port`` (``port=0``: a free port) and return once it answers.

    A host other than a loopback address needs a ``token`` (StudioError otherwise): every request
    must then carry it. The server runs on a daemon thread until ``stop()``."""
    if not is_loopback(host) and not token:
        raise StudioError(
            f"host {host!r} is reachable from other machines; give a token (--token or "
            "SMDBG_STUDIO_TOKEN) to serve there, or use the default host 127.0.0.1"
        )
    if not 0 <= port <= 65535:
        raise StudioError(f"port {port} is out of range; expected 0 to 65535")
    require("uvicorn", extra="platform", feature="the studio")
    import uvicorn

    from smdbg.studio._app import create_app

    app = create_app(tracker_db_url, trial_roots, platform_root, token)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as e:  # noqa: BLE001 - reported to the caller below
            errors.append(e)

    thread = threading.Thread(target=run, name=f"smdbg-studio-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or errors:
            raise StudioError(f"the studio could not start on {host}:{port}; is the port in use?") from (
                errors[0] if errors else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise StudioError(f"the studio did not start on {host}:{port} within {startup_timeout} s")
        time.sleep(0.02)
    bound = port
    for s in server.servers:
        for sock in s.sockets:
            bound = int(sock.getsockname()[1])
    return StudioServer(server, thread, host, bound, token)
