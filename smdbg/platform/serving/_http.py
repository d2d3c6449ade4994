"""The HTTP guards of the endpoint server: header timeout, body size and time, JSON depth.

* :func:`protocol_class` is uvicorn's h11 protocol with a header timeout: uvicorn closes idle
  keep-alive connections but lets a client that trickles a request line and headers hold a
  connection forever; this one answers 408 and closes it.
* :func:`read_body` reads a request body up to a byte limit and within a time limit
  (:class:`BodyRefused` carries the status, 413 or 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

__all__ = ["BodyRefused", "read_body", "protocol_class"]

_TIMEOUT_TEXT = b"request line and headers did not arrive in time\n"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    + b"content-length: %d\r\n\r\n" % len(_TIMEOUT_TEXT)
    + _TIMEOUT_TEXT
)


class BodyRefused(Exception):
    """A request body that is too large (413) or too slow (408); ``str()`` is the reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, refusing one over ``limit`` bytes or still arriving after ``timeout`` s."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyRefused(
            f"request body of {int(declared)} bytes is larger than this endpoint's limit of {limit} "
            "bytes; send smaller batches or deploy with EndpointLimits(max_body_bytes=...)",
            413,
        )
    chunks: list[bytes] = []
    size = [0]

    async def collect() -> bytes:
        async for chunk in request.stream():
            size[0] += len(chunk)
            if size[0] > limit:
                raise BodyRefused(
                    f"request body passed this endpoint's limit of {limit} bytes; send smaller "
                    "batches or deploy with EndpointLimits(max_body_bytes=...)",
                    413,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise BodyRefused(
            f"request body did not arrive within {timeout:g}s ({size[0]} bytes received)", 408
        ) from None


def protocol_class(header_timeout: float) -> type[Any]:
    """uvicorn's h11 protocol, closing connections whose request headers take too long."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Waiting for a request line and headers (IDLE): time them; once they are in, stop.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(_REQUEST_TIMEOUT)
                self.transport.close()

    return GuardedH11Protocol
