"""The Experiments area: experiments → an experiment (its trials and its trial-component table)
→ a trial (its components) → a trial component (parameters, metrics, artifacts, curves), and the
comparison of selected components (``_compare.py``).

=============================================================  ============================
``/experiments?q=&sort=&desc=``                                  every experiment
``/experiments/experiment?experiment=E&<table state>``           trials + trial-component table
``/experiments/trial?experiment=E&trial=T&<table state>``        one trial's components
``/experiments/component?experiment=E&component=C``              one component
``/experiments/compare?experiment=E&c=a,b&...``                  compare components (or ``t=``)
``/experiments/columns.json?experiment=E[&trial=T]``             metric/parameter names (JSON)
=============================================================  ============================

Names are query values (see ``_layout``), so any name opens, ``/`` included. The table state
keys are listed in ``_component_table.py``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from smdbg.studio import _compare
from smdbg.studio._component_table import render_table
from smdbg.studio._context import Studio
from smdbg.studio._errors import StudioHTTPError
from smdbg.studio._layout import Params, esc, href, page, page_url, table_html
from smdbg.tracker import ComponentQuery, NotFoundError

__all__ = ["routes", "exp_url"]

BACK = ("/experiments", "Back to the experiments")


def exp_url(view: str, experiment: str, **names: str | None) -> str:
    """The URL (not HTML-escaped) of an experiment's page ``view`` (``experiment``, ``trial``,
    ``component``, ``compare``, ``columns.json``), the names in the query string."""
    return page_url(f"/experiments/{view}", experiment=experiment, **names)


def _time(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def routes(studio: Studio) -> list[BaseRoute]:
    def experiments(request: Request) -> Response:
        backend = studio.tracker()
        p = Params(request.query_params, ("/experiments", "Back to the experiments"))
        text = p.text("q").strip().lower()
        sort = p.choice("sort", "created", ("name", "created", "trials"))
        desc = p.text("desc") in ("1", "true")
        trials = backend.list_trials()
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.experiment_name] = counts.get(t.experiment_name, 0) + 1
        rows = [
            e
            for e in backend.list_experiments()
            if not text or text in e.name.lower() or text in (e.display_name or "").lower()
            or text in (e.description or "").lower()
        ]  # fmt: skip
        key = {"name": lambda e: e.name, "created": lambda e: e.creation_time, "trials": lambda e: counts.get(e.name, 0)}
        rows.sort(key=key[sort], reverse=desc)

        def head(label: str, field: str) -> str:
            flip = "1" if sort == field and not desc else None
            mark = (" ▼" if desc else " ▲") if sort == field else ""
            return f'<a href="{href("/experiments", request.query_params, sort=field, desc=flip)}">{esc(label)}{mark}</a>'

        cells = [
            [
                f'<a href="{esc(exp_url("experiment", e.name))}">{esc(e.display_name or e.name)}</a>',
                esc(e.description or ""),
                str(counts.get(e.name, 0)),
                _time(e.creation_time),
            ]
            for e in rows
        ]
        form = (
            '<form class="filters" method="get" action="/experiments">'
            f'<label>search<input name="q" id="search" value="{esc(p.text("q"))}"></label>'
            f'<input type="hidden" name="sort" value="{esc(sort)}">'
            f'{"<input type=hidden name=desc value=1>" if desc else ""}<button type="submit">Search</button></form>'
        )
        headers = [head("Experiment", "name"), "Description", head("Trials", "trials"), head("Created", "created")]
        table = table_html(headers, cells, table_id="experiments", empty="No experiments match.")
        return page("Experiments", form + table, area="experiments", crumbs=[("", "Experiments")])

    def _experiment_or_404(request: Request) -> str:
        """The experiment the URL names (``experiment=``), or a 404 page."""
        name = request.query_params.get("experiment", "")
        if not name:
            raise StudioHTTPError(404, "no experiment named in the URL; expected ?experiment=NAME", BACK)
        try:
            studio.tracker().get_experiment(name)
        except NotFoundError:
            raise StudioHTTPError(404, f"experiment {name!r} does not exist", BACK) from None
        return name

    def experiment(request: Request) -> Response:
        name = _experiment_or_404(request)
        backend = studio.tracker()
        trials = backend.list_trials(experiment_name=name)
        trial_counts = backend.count_components(name)
        trial_rows = [
            [
                f'<input type="checkbox" class="select-trial" value="{esc(t.name)}">',
                f'<a href="{esc(exp_url("trial", name, trial=t.name))}">{esc(t.display_name or t.name)}</a>',
                str(trial_counts[t.name]),
                _time(t.creation_time),
            ]
            for t in trials
        ]
        trials_html = table_html(["", "Trial", "Components", "Created"], trial_rows, table_id="trials")
        compare = esc(exp_url("compare", name))
        trials_html += (
            f'<p><a class="button" id="compare-trials" data-base="{compare}" '
            f'href="{compare}">Compare selected trials</a></p>'
        )
        table, _ = render_table(
            backend,
            request.query_params,
            "/experiments/experiment",
            (exp_url("experiment", name), f"Back to {name}"),
            experiment=name,
            trial=None,
            component_href=lambda c: exp_url("component", name, component=c),
            compare_url=exp_url("compare", name),
            names_path=exp_url("columns.json", name),
            scope={"experiment": name},
        )
        body = f"<h2>Trials</h2>{trials_html}<h2>Trial components</h2>{table}"
        crumbs = [("/experiments", "Experiments"), ("", name)]
        return page(name, body, area="experiments", crumbs=crumbs, scripts=["table.js"])

    def trial(request: Request) -> Response:
        name, trial_name = _experiment_or_404(request), request.query_params.get("trial", "")
        backend = studio.tracker()
        try:
            record = backend.get_trial(trial_name)
        except NotFoundError:
            record = None
        if record is None or record.experiment_name != name:
            raise StudioHTTPError(
                404, f"trial {trial_name!r} does not exist in experiment {name!r}",
                (exp_url("experiment", name), f"Back to {name}"),
            )
        table, _ = render_table(
            backend,
            request.query_params,
            "/experiments/trial",
            (exp_url("trial", name, trial=trial_name), f"Back to {trial_name}"),
            experiment=None,
            trial=trial_name,
            component_href=lambda c: exp_url("component", name, component=c),
            compare_url=exp_url("compare", name),
            names_path=exp_url("columns.json", name, trial=trial_name),
            scope={"experiment": name, "trial": trial_name},
        )
        crumbs = [("/experiments", "Experiments"), (esc(exp_url("experiment", name)), name), ("", trial_name)]
        return page(trial_name, table, area="experiments", crumbs=crumbs, scripts=["table.js"])

    def columns(request: Request) -> Response:
        """The parameter and metric names in an experiment (or ``?trial=``), as JSON, cached
        until a component in scope is added or written."""
        name = _experiment_or_404(request)
        trial_name = request.query_params.get("trial") or None
        backend = studio.tracker()
        exp = None if trial_name else name
        latest = backend.query_components(ComponentQuery(exp, trial_name, sort_by="LastModifiedTime", descending=True,
                                                         limit=1, with_names=False, metrics=[]))  # fmt: skip
        fingerprint = (latest.total, latest.components[0].last_modified_time if latest.components else None)

        def compute() -> dict[str, list[str]]:
            page_ = backend.query_components(ComponentQuery(exp, trial_name, limit=1, metrics=[]))
            return {"metrics": page_.metric_names, "parameters": page_.parameter_names}

        return JSONResponse(studio.cached(("columns", name, trial_name), fingerprint, compute))

    return [
        Route("/experiments", experiments),
        Route("/experiments/columns.json", columns),
        Route("/experiments/experiment", experiment),
        Route("/experiments/trial", trial),
        *_compare.routes(studio, exp_url, _experiment_or_404),
        Route("/experiments/{rest:path}", _old_url),
    ]


# the path forms of the first studio release, before names moved into the query string
_OLD_FORMS = {1: {"": "experiment"}, 2: {"columns.json": "columns.json", "compare": "compare"},
              3: {"trials": "trial", "components": "component"}}  # fmt: skip


async def _old_url(request: Request) -> Response:
    """A bookmark of the old path form (``/experiments/NAME/trials/T`` ...) is redirected to the
    page it named; any other path under ``/experiments/`` is a 404 page."""
    parts = request.path_params["rest"].split("/")
    experiment, key = parts[0], parts[1] if len(parts) > 1 else ""
    page_name = _OLD_FORMS.get(len(parts), {}).get(key)
    if not experiment or page_name is None:
        raise StudioHTTPError(404, f"no page at {request.url.path!r}", back=("/experiments", "Back to experiments"))
    names = [("experiment", experiment)] + ([(page_name, parts[2])] if len(parts) == 3 else [])
    query = urlencode(names + [(k, v) for k, v in request.query_params.multi_items() if k not in dict(names)])
    return RedirectResponse(f"/experiments/{page_name}?{query}", status_code=308)
