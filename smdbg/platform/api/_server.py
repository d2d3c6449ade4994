"""``serve()``: the control plane on uvicorn, and the checks made before it binds."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from smdbg.platform.api._auth import Credentials
from smdbg.platform.api._limits import ServiceLimits
from smdbg.platform.api._registry import Context
from smdbg.platform.api._state import ApiState

__all__ = ["serve", "make_context", "is_loopback", "load_operations", "DEFAULT_PORT"]

DEFAULT_PORT = 8070
log = logging.getLogger("smdbg.api")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_operations() -> None:
    """Import every handler module (each registers its operations)."""
    from smdbg.platform.api import (  # noqa: F401
        _limits,
        _ops_automl,
        _ops_endpoints,
        _ops_jobs,
        _ops_models,
        _ops_monitor,
        _ops_tracker,
    )


def make_context(root: str | Path, limits: ServiceLimits | None = None) -> Context:
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    load_operations()
    from smdbg.platform.api._ops_endpoints import resume_endpoints
    from smdbg.platform.api._ops_monitor import resume_schedules

    ctx = Context(state=ApiState(root / "api.db"), root=root, limits=limits)
    resume_endpoints(ctx)
    resume_schedules(ctx)
    return ctx


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    root: str | Path | None = None,
    credentials: Credentials | None = None,
    require_auth: bool | None = None,
    limits: ServiceLimits | None = None,
) -> None:
    """Run the SageMaker-compatible control plane until interrupted.

    ``root`` holds the state database (``api.db``) and downloaded artifacts (default
    ``$SMDBG_HOME/api``). Bound to a loopback address, requests need no signature unless
    ``require_auth`` is true; bound anywhere else, ``credentials`` are required and every request
    must carry a valid AWS SigV4 signature made with one of them. ``limits`` are the service
    quotas (:class:`ServiceLimits`; default: from this machine's CPUs).
    """
    import uvicorn

    from smdbg._settings import home
    from smdbg.platform.api._app import build_app

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port {port!r} is not valid: expected an integer from 0 to 65535")
    auth = (not is_loopback(host)) if require_auth is None else bool(require_auth)
    if not is_loopback(host) and not auth:
        raise ValueError(
            f"host {host!r} is not a loopback address: requests must be signed there; drop require_auth=False"
        )
    if auth and credentials is None:
        raise ValueError(
            f"host {host!r} needs signed requests but no credentials are configured: pass --credentials-file "
            "FILE (JSON with AccessKeyId and SecretAccessKey) or bind 127.0.0.1"
        )
    ctx = make_context(root if root is not None else home() / "api", limits)
    app = build_app(ctx, credentials if auth else None)
    log.info(
        "SageMaker API on http://%s:%s (root %s, auth %s)", host, port, ctx.root, "on" if auth else "off"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        ctx.state.close()
