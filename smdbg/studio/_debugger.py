"""The debugger pages: trials, a trial's tensors and charts, and their JSON and live-update API.

Pages (the view is in the query string, so a URL restores it)::

    /debugger                                   the trials under the configured trial folders
    /debugger/trial?trial=ID[&tensor=&reduction=&worker=&x0=&x1=&step=]
                                                tensors by collection and worker; the chosen
                                                tensor's history (zoom x0..x1), its raw value at
                                                a step, its distribution over steps; rules on a
                                                timeline beside the loss curve

API (JSON; ``/debugger/api/events`` is a server-sent event stream that says ``update`` when the
trial got new data or a rule job wrote)::

    /debugger/api/overview  /series  /step  /heatmap  /rules  /events

Unknown trials, tensors, workers or steps answer 404: a page that says what is missing with a
link back, or ``{"error": ...}`` from the API; never a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from smdbg.exceptions import SmdbgError
from smdbg.studio._context import Studio
from smdbg.studio._debugger_data import (
    StudioNotFound,
    TrialCatalog,
    check_reduction,
    check_worker,
    rule_timeline,
    tensor_at_step,
    tensor_heatmap,
    tensor_series,
    trial_overview,
    trial_version,
)
from smdbg.studio._errors import StudioHTTPError
from smdbg.studio._layout import esc, href, page, page_url, table_html

__all__ = ["routes", "EVENT_POLL_S"]

#: How often the event stream looks at a live trial (s): a save shows within this plus the
#: writer's flush interval.
EVENT_POLL_S = 0.25
#: A comment line every this many seconds keeps proxies from closing an idle stream.
_KEEPALIVE_S = 15.0
SCRIPT = "debugger.js"


class BadQuery(SmdbgError, ValueError):
    """A query parameter that does not parse."""


def _int(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise BadQuery(f"{key}={raw!r}: expected a number") from None


def _range(request: Request) -> tuple[float | None, float | None]:
    return _int(request, "x0"), _int(request, "x1")


def _api(fn: Callable[[Request], dict[str, Any]]) -> Callable[[Request], Any]:
    """A JSON endpoint: runs ``fn`` in a thread; StudioNotFound -> 404, BadQuery -> 400."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(fn, request))
        except StudioNotFound as e:
            return JSONResponse({"error": e.what, "back": e.back}, status_code=404)
        except BadQuery as e:
            return JSONResponse({"error": str(e)}, status_code=400)

    return endpoint


def _page_error(e: StudioNotFound) -> StudioHTTPError:
    return StudioHTTPError(404, e.what, (e.back, f"Back to {e.back_label}"))


def routes(studio: Studio) -> list[Route]:
    """The debugger's pages and API over the trials under the studio's ``trial_roots``."""
    catalog = TrialCatalog(studio.config.trial_roots)

    def trial_of(request: Request) -> Any:
        return catalog.trial(request.query_params.get("trial", ""))

    def worker(request: Request) -> str | None:
        return request.query_params.get("worker") or None

    def points(request: Request) -> int:
        return _int(request, "points") or 2000

    def overview(request: Request) -> dict[str, Any]:
        return trial_overview(trial_of(request))

    def series(request: Request) -> dict[str, Any]:
        q = request.query_params
        return tensor_series(trial_of(request), q.get("tensor", ""), q.get("reduction") or None, worker(request),
                             points(request), _range(request))  # fmt: skip

    def step(request: Request) -> dict[str, Any]:
        return tensor_at_step(trial_of(request), request.query_params.get("tensor", ""), _int(request, "step"), worker(request))

    def heat(request: Request) -> dict[str, Any]:
        return tensor_heatmap(trial_of(request), request.query_params.get("tensor", ""), worker(request))

    def rules(request: Request) -> dict[str, Any]:
        return rule_timeline(trial_of(request), points(request), _range(request))

    async def events(request: Request) -> Response:
        try:
            trial = await run_in_threadpool(trial_of, request)
        except StudioNotFound as e:
            return JSONResponse({"error": e.what}, status_code=404)

        async def stream() -> AsyncIterator[str]:
            last = await run_in_threadpool(trial_version, trial)
            yield f"event: hello\ndata: {json.dumps({'ended': bool(last[2])})}\n\n"
            idle = 0.0
            while not await request.is_disconnected():
                await asyncio.sleep(EVENT_POLL_S)
                now = await run_in_threadpool(trial_version, trial)
                if now != last:
                    last, idle = now, 0.0
                    yield f"event: update\ndata: {json.dumps({'rows': now[0], 'step': now[1], 'ended': bool(now[2])})}\n\n"
                else:
                    idle += EVENT_POLL_S
                    if idle >= _KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def trials_page(request: Request) -> Response:
        rows = await run_in_threadpool(_trial_rows, catalog)
        body = table_html(["trial", "state", "steps", "workers"], rows, table_id="trials",
                          empty="No trials under the studio's trial folders (smdbg studio --trials DIR).")  # fmt: skip
        return page("Debugger", body, area="debugger", crumbs=[("", "Debugger")])

    async def trial_page(request: Request) -> Response:
        try:
            view = await run_in_threadpool(_trial_view, catalog, request)
        except StudioNotFound as e:
            raise _page_error(e) from None
        crumbs = [("/debugger", "Debugger"), ("", view["trial"])]
        return page(f"Trial {view['trial']}", view["body"], area="debugger", crumbs=crumbs, scripts=[SCRIPT])

    return [
        Route("/debugger", trials_page),
        Route("/debugger/trial", trial_page),
        Route("/debugger/api/overview", _api(overview)),
        Route("/debugger/api/series", _api(series)),
        Route("/debugger/api/step", _api(step)),
        Route("/debugger/api/heatmap", _api(heat)),
        Route("/debugger/api/rules", _api(rules)),
        Route("/debugger/api/events", events),
    ]


def _trial_rows(catalog: TrialCatalog) -> list[list[str]]:
    rows = []
    for tid in catalog.ids():
        link = f'<a class="trial-link" href="{href("/debugger/trial", trial=tid)}">{esc(tid)}</a>'
        try:
            ov = trial_overview(catalog.trial(tid))
        except (SmdbgError, OSError) as e:  # a trial that cannot be opened is listed, with why
            rows.append([link, f'<span class="bad">cannot be read: {esc(e)}</span>', "", ""])
            continue
        state = "ended" if ov["ended"] else f"live (complete to step {ov['last_complete_step']})"
        if ov["corrupt"]:
            state += f' <span class="bad">{len(ov["corrupt"])} corrupt segment(s)</span>'
        rows.append([link, state, str(ov["steps"]), esc(", ".join(ov["workers"]))])
    return rows


def _trial_view(catalog: TrialCatalog, request: Request) -> dict[str, Any]:
    """Checks what the URL names (404 for an unknown trial, tensor, worker or reduction) and
    builds the page's frame; the charts are drawn by debugger.js from the API."""
    q = request.query_params
    trial = catalog.trial(q.get("trial", ""))
    ov = trial_overview(trial)
    tensor = q.get("tensor")
    if tensor and tensor not in ov["tensors"]:
        raise StudioNotFound(f"trial {trial.name!r} has no tensor {tensor!r}", page_url("/debugger/trial", trial=trial.name),
                             "the trial's tensors")  # fmt: skip
    if tensor and q.get("worker"):
        check_worker(trial, tensor, q["worker"])
    if tensor and q.get("reduction"):
        check_reduction(trial, tensor, q["reduction"])
    notes = []
    if not ov["ended"]:
        done = ov["last_complete_step"]
        pending = f"steps after {done} are not complete yet" if done >= 0 else "no step is complete yet"
        notes.append(f'<p class="warn live-note">Training is still running: {pending}; the page updates as they '
                     "arrive.</p>")  # fmt: skip
    for path, why in ov["corrupt"].items():
        notes.append(f'<p class="bad corrupt-note">Not shown: segment {esc(path)} cannot be read ({esc(why)}).</p>')
    for w, why in ov["end_reasons"].items():
        notes.append(f'<p class="warn">Worker {esc(w)} ended abnormally: {esc(why)}.</p>')
    groups = []
    for cname, members in ov["collections"].items():
        items = "".join(
            f'<li><a class="tensor-link" data-tensor="{esc(n)}" href="{href("/debugger/trial", trial=trial.name, tensor=n)}">'
            f'{esc(n)}</a> <span class="note">{esc(", ".join(ov["tensors"][n]["workers"]))}</span></li>'
            for n in members
        )  # fmt: skip
        groups.append(f'<details open><summary>{esc(cname)} ({len(members)})</summary><ul>{items}</ul></details>')
    config = {"trial": trial.name, "tensors": ov["tensors"], "loss": (ov["collections"].get("losses") or [None])[0]}
    body = f"""
<div id="debugger" data-config="{esc(json.dumps(config))}" style="display:flex;gap:1.5em">
 <aside id="tensors" style="min-width:16em;max-width:22em;overflow:auto">{''.join(notes)}
  <p class="note">{ov['steps']} steps · workers {esc(', '.join(ov['workers']) or 'none yet')}</p>{''.join(groups)}</aside>
 <section style="flex:1">
  <div id="selection"></div>
  <h2>History <span id="series-label" class="note"></span></h2>
  <div class="chart-tools"><button id="zoom-reset" type="button">Reset zoom</button>
   <span class="note">drag across the chart to zoom (double-click undoes it); click a point to see the tensor at that step</span></div>
  <div id="series-chart"></div><p id="series-nonfinite" class="bad"></p>
  <h2>Value at step <span id="step-label" class="note"></span></h2><div id="step-view"></div>
  <h2>Distribution over steps <span id="heatmap-label" class="note"></span></h2><div id="heatmap"></div>
  <h2>Rules and loss</h2><div id="rules-chart"></div><div id="rules-list"></div>
 </section>
</div>"""
    return {"trial": trial.name, "body": body}
