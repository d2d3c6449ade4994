"""The platform pages: jobs, AutoML jobs, endpoints and monitoring executions (server-drawn).

::

    /platform                              links to the four lists below
    /platform/jobs                         every job: status, kind, backend, created, failure
    /platform/jobs/job?name=N              status, metrics (charts, by platform.js with chart.js,
                                           and final values), rules,
                                           log tails, hyperparameters, the debugger trial
    /platform/automl                       every AutoML job found under the configured folders
    /platform/automl/job?id=ID             leaderboard, best candidate, links to the notebooks
    /platform/automl/notebook?id=ID&which=data|candidates   the notebook file (download)
    /platform/endpoints                    status and capture volume (files, bytes, records)
    /platform/monitor                      monitoring executions and their violations

Jobs and endpoints are read from the studio's platform root (``Studio.platform_root``:
``--platform-root`` / ``serve(platform_root=)``, else the settings' default ``$SMDBG_HOME``),
passed down to the platform's functions; nothing here reads the environment. AutoML jobs and
monitoring reports are looked for under the studio's trial folders and that platform root.
Unknown names answer a 404 page with a link back.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from smdbg.studio._context import Studio
from smdbg.studio._debugger_data import StudioNotFound, TrialCatalog
from smdbg.studio._errors import StudioHTTPError
from smdbg.studio._layout import data_json, esc, href, page, table_html
from smdbg.studio._platform_data import (
    NOTEBOOKS,
    PlatformRoots,
    automl_detail,
    automl_notebook,
    automl_table,
    endpoints_table,
    job_detail,
    jobs_table,
    monitor_executions,
)

__all__ = ["routes"]

_AREA = "platform"


def _status(value: Any) -> str:
    return f'<span class="status status-{esc(value)}">{esc(value)}</span>'


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else esc(value)


def _not_found(e: StudioNotFound) -> StudioHTTPError:
    return StudioHTTPError(404, e.what, (e.back, f"Back to {e.back_label}"))


def _crumbs(label: str, path: str, leaf: str | None = None) -> list[tuple[str, str]]:
    out = [("/platform", "Platform"), (path if leaf else "", label)]
    return out + [("", leaf)] if leaf else out


def routes(studio: Studio) -> list[Route]:
    cfg = studio.config
    home = studio.platform_root
    folders = [*cfg.trial_roots, str(home)]
    roots = PlatformRoots(automl=folders, monitor=folders)
    trials = TrialCatalog(cfg.trial_roots).index

    def index(request: Request) -> Response:
        items = "".join(f'<li><a href="{p}">{esc(t)}</a></li>' for p, t in (
            ("/platform/jobs", "Jobs"), ("/platform/automl", "AutoML jobs"),
            ("/platform/endpoints", "Endpoints"), ("/platform/monitor", "Monitoring executions")))  # fmt: skip
        return page("Platform", f'<ul class="platform-areas">{items}</ul>', area=_AREA, crumbs=[("", "Platform")])

    def jobs(request: Request) -> Response:
        rows = [[f'<a class="job-link" href="{href("/platform/jobs/job", name=j["name"])}">{esc(j["name"])}</a>',
                 esc(j["kind"]), _status(j["status"]), esc(j["backend"]), esc(j["created"]), esc(j["failure_reason"] or "")]
                for j in jobs_table(home)]  # fmt: skip
        body = table_html(["job", "kind", "status", "backend", "created", "failure"], rows, table_id="jobs",
                          empty=f"No jobs in {home / 'jobs'}.")  # fmt: skip
        return page("Jobs", body, area=_AREA, crumbs=_crumbs("Jobs", "/platform/jobs"))

    def job(request: Request) -> Response:
        try:
            d = job_detail(request.query_params.get("name", ""), home, trials)
        except StudioNotFound as e:
            raise _not_found(e) from None
        return page(f"Job {d['name']}", _job_body(d), area=_AREA, crumbs=_crumbs("Jobs", "/platform/jobs", d["name"]),
                    scripts=["platform.js"])  # fmt: skip

    def automl(request: Request) -> Response:
        rows = [[f'<a class="automl-link" href="{href("/platform/automl/job", id=a["id"])}">{esc(a["name"])}</a>',
                 esc(a["id"]), _status(a["status"]), esc(a["problem_type"]), esc(a["objective"]), str(a["candidates"]),
                 esc(a["best"]), _num(a["best_value"])] for a in automl_table(roots)]  # fmt: skip
        body = table_html(["job", "folder", "status", "problem", "objective", "candidates", "best", "best value"], rows,
                          table_id="automl-jobs", empty="No AutoML job under the studio's folders.")  # fmt: skip
        return page("AutoML jobs", body, area=_AREA, crumbs=_crumbs("AutoML", "/platform/automl"))

    def automl_job(request: Request) -> Response:
        try:
            d = automl_detail(roots, request.query_params.get("id", ""))
        except StudioNotFound as e:
            raise _not_found(e) from None
        return page(f"AutoML job {d['name']}", _automl_body(d), area=_AREA,
                    crumbs=_crumbs("AutoML", "/platform/automl", d["name"]))  # fmt: skip

    def notebook(request: Request) -> Response:
        q = request.query_params
        try:
            path = automl_notebook(roots, q.get("id", ""), q.get("which", ""))
        except StudioNotFound as e:
            raise _not_found(e) from None
        return FileResponse(path, media_type="application/x-ipynb+json", filename=path.name)

    def endpoints(request: Request) -> Response:
        rows = []
        for ep in endpoints_table(home):
            vol = ep["volume"]
            if vol is None:
                volume = '<span class="muted">capture off</span>'
            elif "error" in vol:
                volume = f'<span class="error">{esc(vol["error"])}</span>'
            else:
                records = "not counted (over 32 MiB)" if vol["records"] is None else f'{vol["records"]} records'
                volume = f'{records} · {vol["files"]} files · {vol["bytes"]:,} bytes'
            rows.append([esc(ep["name"]), _status(ep["status"]), esc(ep["url"]), esc(ep["framework"]),
                         esc(ep["capture_uri"] or ""), volume, esc(ep["created"])])  # fmt: skip
        body = table_html(["endpoint", "status", "url", "framework", "capture", "captured", "created"], rows,
                          table_id="endpoints", empty=f"No endpoints in {home / 'endpoints'}.")  # fmt: skip
        return page("Endpoints", body, area=_AREA, crumbs=_crumbs("Endpoints", "/platform/endpoints"))

    def monitor(request: Request) -> Response:
        rows = []
        for ex in monitor_executions(roots):
            found = "".join(f'<li class="violation">{esc(v.get("feature_name"))}: {esc(v.get("constraint_check_type"))} '
                            f'— {esc(v.get("description"))}</li>' for v in ex["violations"])  # fmt: skip
            cell = f"<ul>{found}</ul>" if found else ('<span class="status-NoIssuesFound">no violations</span>'
                                                       if not ex["error"] else f'<span class="error">{esc(ex["error"])}</span>')  # fmt: skip
            rows.append([esc(ex["id"]), esc(ex["items"]), str(len(ex["violations"])), cell])
        body = table_html(["execution (report folder)", "items", "violations", "details"], rows, table_id="executions",
                          empty="No monitoring reports (constraint_violations.json) under the studio's folders.")  # fmt: skip
        return page("Monitoring executions", body, area=_AREA, crumbs=_crumbs("Monitoring", "/platform/monitor"))

    return [
        Route("/platform", index), Route("/platform/jobs", jobs), Route("/platform/jobs/job", job),
        Route("/platform/automl", automl), Route("/platform/automl/job", automl_job),
        Route("/platform/automl/notebook", notebook), Route("/platform/endpoints", endpoints),
        Route("/platform/monitor", monitor),
    ]  # fmt: skip


def _job_body(d: dict[str, Any]) -> str:
    parts = [f'<p>Status {_status(d["status"])} <span class="muted">{esc(d["secondary"] or "")} · {esc(d["kind"])} job · '
             f'created {esc(d["created"])}</span></p>']  # fmt: skip
    if d["failure"]:
        parts.append(f'<p class="error failure">{esc(d["failure"])}</p>')
    if d["trial_id"]:
        parts.append(f'<p><a class="trial-link" href="{href("/debugger/trial", trial=d["trial_id"])}">Debugger trial</a></p>')
    elif d["trial"]:
        parts.append(f'<p class="muted">Debugger trial at {esc(d["trial"])} (not under the studio\'s trial folders).</p>')
    parts.append("<h2>Metrics</h2>")
    for name in d["metrics"]:  # drawn by platform.js with the studio's line chart (chart.js)
        parts.append(f'<div class="metric" data-metric="{esc(name)}"><h3>{esc(name)}</h3><div class="chart"></div></div>')
    finite = {n: {h: [v if math.isfinite(v) else None for v in ys] for h, ys in hosts.items()} for n, hosts in d["metrics"].items()}
    parts.append(data_json("job-metrics", finite))  # JSON has no NaN: a gap in the line
    final = [[esc(m.get("MetricName")), _num(m.get("Value")), esc(m.get("Count")), esc(m.get("Timestamp"))] for m in d["final_metrics"]]
    parts.append(table_html(["metric", "last value", "count", "time"], final, table_id="final-metrics",
                            empty="No metric matched the job's metric definitions."))  # fmt: skip
    if d["rules"]:
        rules = [[esc(r["RuleConfigurationName"]), _status(r["RuleEvaluationStatus"]), esc(r.get("StatusDetails") or "")] for r in d["rules"]]
        parts += ["<h2>Rules</h2>", table_html(["rule", "status", "details"], rules, table_id="rules")]
    hps = [[esc(k), esc(v)] for k, v in d["hyperparameters"].items()]
    parts += ["<h2>Hyperparameters</h2>", table_html(["name", "value"], hps, table_id="hyperparameters", empty="none")]
    parts.append("<h2>Logs</h2>")
    for host, tail in d["logs"].items():
        cut = "" if tail["shown_bytes"] == tail["total_bytes"] else f' (last {tail["shown_bytes"]:,} of {tail["total_bytes"]:,} bytes)'
        parts.append(f'<h3>{esc(host)}<span class="muted">{cut}</span></h3><pre class="log" data-host="{esc(host)}">{esc(tail["text"])}</pre>')
    return "".join(parts)


def _automl_body(d: dict[str, Any]) -> str:
    parts = [f'<p>Status {_status(d["status"])} <span class="muted">{esc(d["secondary"] or "")} · objective '
             f'{esc(d["objective"])}</span></p>']  # fmt: skip
    if d["failure"]:
        parts.append(f'<p class="error failure">{esc(d["failure"])}</p>')
    best = d["best"] or {}
    if best:
        value = (best.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value")
        parts.append(f'<p id="best-candidate">Best candidate <strong>{esc(best.get("CandidateName"))}</strong>: '
                     f'{esc(d["objective"])} = {_num(value)}</p>')  # fmt: skip
    links = []
    for key, fname in NOTEBOOKS.items():
        if d["notebooks"][key]:
            links.append(f'<li><a class="notebook-link" data-notebook="{key}" href="{href("/platform/automl/notebook", id=d["id"], which=key)}">{esc(fname)}</a></li>')
        else:
            links.append(f'<li class="muted">{esc(fname)}: not written (see the job\'s time budget)</li>')
    parts += ["<h2>Notebooks</h2>", f'<ul>{"".join(links)}</ul>', "<h2>Leaderboard</h2>"]
    rows = [[str(i + 1), esc(c["name"]), esc(c["algorithm"]), _status(c["status"]), _num(c["value"]), _num(c["fit_seconds"]),
             esc(c["failure"] or "")] for i, c in enumerate(d["leaderboard"])]  # fmt: skip
    parts.append(table_html(["rank", "candidate", "algorithm", "status", esc(d["objective"] or "objective"), "fit s", "failure"],
                            rows, table_id="leaderboard", empty="No candidate yet."))  # fmt: skip
    return "".join(parts)
