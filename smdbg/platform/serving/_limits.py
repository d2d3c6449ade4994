"""How much an endpoint accepts and how long it waits: :class:`EndpointLimits`.

The limits travel in the endpoint record, so the server process and every :class:`Predictor`
see the same values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["EndpointLimits", "DEFAULT_MAX_BODY_BYTES"]

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's real-time invocation payload limit


@dataclasses.dataclass(frozen=True)
class EndpointLimits:
    """Limits one endpoint server enforces.

    * ``max_body_bytes``: a request body larger than this is refused with HTTP 413 before it is
      read (by its ``Content-Length``) or as soon as the streamed bytes pass it.
    * ``max_concurrency``: requests scored at the same time, each on a worker thread (the event
      loop only reads and writes sockets, so ``/ping`` answers while models run). A model whose
      ``predict`` is not thread-safe wants ``max_concurrency=1``.
    * ``max_queued``: requests allowed to wait for a worker; beyond that the endpoint answers 503
      with ``Retry-After`` at once instead of queueing without bound.
    * ``header_timeout_s``: a connection that has not sent a whole request line and headers this
      long after its first byte (or after connecting) is closed (408).
    * ``body_timeout_s``: a request whose body has not fully arrived this long after its headers
      gets 408.
    * ``max_json_depth``: a JSON body nested deeper than this gets 400 before it is parsed.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrency: int = 4
    max_queued: int = 64
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_json_depth: int = 32

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_concurrency", "max_json_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EndpointLimits {name}={value!r} is not valid: expected an int >= 1")
        if isinstance(self.max_queued, bool) or not isinstance(self.max_queued, int) or self.max_queued < 0:
            raise ValueError(
                f"EndpointLimits max_queued={self.max_queued!r} is not valid: expected an int >= 0"
            )
        for name in ("header_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"EndpointLimits {name}={value!r} is not valid: expected seconds > 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EndpointLimits:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})
