"""The studio's errors: a page handler raises :class:`StudioHTTPError` and the app renders it as a
page that says what went wrong, with a link back (never a stack trace)."""

from __future__ import annotations

from smdbg.exceptions import SmdbgError

__all__ = ["StudioError", "StudioHTTPError"]


class StudioError(SmdbgError, ValueError):
    """The studio cannot start as asked (e.g. a non-loopback host without a token)."""


class StudioHTTPError(SmdbgError, LookupError):
    """A request the studio answers with an error page: ``status`` (404 unknown name, 400 bad
    query value), a one-line ``message``, and where ``back`` leads (href, text)."""

    def __init__(self, status: int, message: str, back: tuple[str, str] = ("/", "Back to the studio")) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.back = back
