"""The studio's Debugger area. A placeholder page until the area's pages land (issue 22, items 2 and
3): it states what the area will show. Replace ``routes`` to add the area's pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smdbg.studio._context import Studio
from smdbg.studio._layout import page

__all__ = ["routes"]


def routes(studio: Studio) -> list[BaseRoute]:
    def index(request: Request) -> Response:
        body = '<p class="muted">This area has no pages yet.</p>'
        return page("Debugger", body, area="debugger", crumbs=[("", "Debugger")])

    return [Route("/debugger", index)]
