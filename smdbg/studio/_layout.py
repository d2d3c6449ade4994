"""The page layout every area shares, built on the server as HTML strings (no template engine).

* :func:`page` wraps an area's body in the layout: the nav (Experiments / Debugger / Platform,
  from :data:`NAV`), breadcrumbs, the shared CSS and scripts (``/static/studio.css``,
  ``studio.js`` with the URL-state helpers, ``chart.js`` with the line chart) and any extra
  scripts the page names.
* :func:`esc` escapes text for HTML; every value from a database or URL goes through it.
* :func:`href` builds a link that keeps the page's query-string state and changes some keys: the
  page state (filters, sort, page, selection, zoom) lives in the query string, so a link or
  reload restores a view. :func:`page_url` is the same without state or escaping.
* **Names are query values, never path segments.** An experiment, trial, component, tensor,
  debugger trial or job is named in the query string (``?experiment=a/b&component=c%23d``),
  percent-encoded by ``urlencode`` here and ``URLSearchParams`` in the scripts. A name may hold
  ``/``, ``?``, ``#``, ``%``, spaces or any Unicode; a path segment could not carry ``/`` (the
  server decodes ``%2F`` before routing, and proxies often refuse or decode it).
* :func:`data_json` embeds data for the page's script as ``<script type="application/json">``.
* :class:`Params` reads query values with checks; a bad value is a 400 page naming it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams
from starlette.responses import HTMLResponse

from smdbg.studio._errors import StudioHTTPError

__all__ = [
    "NAV", "NAME_KEYS", "page", "error_page", "esc", "href", "page_url", "data_json", "Params", "table_html",
    "join_names", "split_names",
]  # fmt: skip

# (area key, label, path) of the nav, in order.
NAV: tuple[tuple[str, str, str], ...] = (
    ("experiments", "Experiments", "/experiments"),
    ("debugger", "Debugger", "/debugger"),
    ("platform", "Platform", "/platform"),
)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(path: str, state: Mapping[str, Any] | QueryParams | None = None, **changes: Any) -> str:
    """``path?query`` from ``state`` with ``changes`` applied (None or "" removes a key; a list
    value repeats the key). A query already in ``path`` comes first. Keys keep their order; the
    result is escaped for an attribute."""
    items: dict[str, Any] = {}
    if "?" in path:
        path, given = path.split("?", 1)
        items.update(parse_qsl(given))
    if state is not None:
        for key in state.keys():
            values = state.getlist(key) if isinstance(state, QueryParams) else [state[key]]
            items[key] = values if len(values) > 1 else values[0]
    for key, value in changes.items():
        items[key.rstrip("_")] = value
    pairs: list[tuple[str, str]] = []
    for key, value in items.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and v != "":
                pairs.append((key, str(v)))
    return esc(path + ("?" + urlencode(pairs) if pairs else ""))


#: The query keys that name what a page shows (the rest is view state: filters, sort, zoom...).
NAME_KEYS = ("experiment", "trial", "component", "tensor", "name", "id")


def page_url(path: str, **query: Any) -> str:
    """``path?query`` (not HTML-escaped; None and "" values left out): a URL that names things."""
    pairs = [(k, str(v)) for k, v in query.items() if v is not None and v != ""]
    return path + ("?" + urlencode(pairs) if pairs else "")


def data_json(element_id: str, data: Any) -> str:
    """``data`` as JSON in a script element the page's JavaScript reads (``</`` cannot close it)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def _nav(area: str) -> str:
    links = "".join(
        f'<a href="{esc(path)}"{" class=active" if key == area else ""}>{esc(label)}</a>'
        for key, label, path in NAV
    )
    return f'<nav class="top"><span class="brand">smdbg studio</span>{links}</nav>'


def page(
    title: str,
    body: str,
    *,
    area: str,
    crumbs: Sequence[tuple[str, str]] = (),
    scripts: Iterable[str] = (),
    status: int = 200,
) -> HTMLResponse:
    """A full page: nav with ``area`` active, breadcrumbs ``[(href, text), ...]`` (the last is
    the current page, href may be ""), ``body`` (already HTML), then the shared and ``scripts``
    (names under /static)."""
    trail = " / ".join(f'<a href="{h}">{esc(t)}</a>' if h else esc(t) for h, t in crumbs)
    tags = "".join(
        f'<script src="/static/{esc(s)}"></script>' for s in ("studio.js", "chart.js", *scripts)
    )
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · smdbg studio</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/studio.css"></head><body>'
        f'{_nav(area)}<main><div class="crumbs">{trail}</div><h1>{esc(title)}</h1>{body}</main>'
        f"{tags}</body></html>"
    )
    return HTMLResponse(doc, status_code=status)


def error_page(status: int, message: str, back: tuple[str, str], area: str = "") -> HTMLResponse:
    heading = {400: "Bad request", 401: "Token required", 403: "Forbidden", 404: "Not found",
               503: "Tracker unavailable"}.get(status, "Error")  # fmt: skip
    body = (
        f'<p class="error" id="error-message">{esc(message)}</p>'
        f'<p><a id="back-link" href="{esc(back[0])}">{esc(back[1])}</a></p>'
    )
    return page(heading, body, area=area, status=status)


def table_html(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str, empty: str = "Nothing here yet."
) -> str:
    """A table from already-escaped header and cell HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    return f'<table id="{esc(table_id)}" class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Params:
    """Checked reads of a request's query string; a bad value raises a 400 page naming it."""

    def __init__(self, query: QueryParams, back: tuple[str, str]) -> None:
        self.query = query
        self.back = back

    def bad(self, key: str, value: str, expected: str) -> StudioHTTPError:
        return StudioHTTPError(400, f"{key}={value!r} is not valid; expected {expected}", self.back)

    def text(self, key: str, default: str = "") -> str:
        return self.query.get(key, default)

    def int(self, key: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.bad(key, raw, f"a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise self.bad(key, raw, f"a whole number from {low} to {high}")
        return value

    def float(self, key: str, default: float, low: float, high: float) -> float:
        raw = self.query.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.bad(key, raw, f"a number from {low} to {high}") from None
        if not low <= value <= high:
            raise self.bad(key, raw, f"a number from {low} to {high}")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        raw = self.query.get(key) or default
        if raw not in choices:
            raise self.bad(key, raw, "one of " + ", ".join(choices))
        return raw

    def names(self, key: str) -> list[str]:
        """A list given as repeated keys and/or :func:`join_names` values, in order, without repeats."""
        out: list[str] = []
        for raw in self.query.getlist(key):
            out += split_names(raw)
        return list(dict.fromkeys(out))


def join_names(names: Iterable[str]) -> str:
    """Names as one query value: comma-separated, a comma or backslash inside a name escaped with
    a backslash (``studio.js`` ``Studio.joinList`` writes the same)."""
    return ",".join(n.replace("\\", "\\\\").replace(",", "\\,") for n in names)


def split_names(raw: str) -> list[str]:
    """The names of a :func:`join_names` value (a hand-written ``a,b`` reads as two), blanks dropped."""
    out: list[str] = []
    cur: list[str] = []
    escaped = False
    for ch in raw:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [v for v in (n.strip() for n in out) if v]
