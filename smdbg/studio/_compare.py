"""A trial component's page and the comparison of several: metric curves overlaid (EMA over the
faint raw curve; x-axis step, wall time or relative time; zoom), parallel coordinates over the
parameters and a chosen metric statistic, and parameter importance (``_numbers.py``).

Query string: ``experiment`` (the experiment's name), ``c`` components and/or ``t`` trials (comma-separated), ``metric`` the curve's
metric, ``x`` (``step``, ``wall_time``, ``relative``), ``smooth`` (EMA weight 0 to 0.999),
``zoom`` (``x0,x1``), ``stat`` (the statistic on the parallel-coordinates axis and importance:
Min, Max, Avg, Last). The page's script keeps ``x``, ``smooth`` and ``zoom`` in the URL as they
change, so the URL restores the view.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smdbg.studio._component_table import SHOWN_STATS, fmt_value
from smdbg.studio._context import Studio
from smdbg.studio._errors import StudioHTTPError
from smdbg.studio._layout import Params, data_json, esc, href, page, table_html
from smdbg.studio._numbers import minmax_downsample, parameter_importance
from smdbg.tracker import NotFoundError, TrackerBackend
from smdbg.tracker._records import NO_ITERATION, ComponentRecord

__all__ = ["routes", "MAX_POINTS"]

MAX_POINTS = 5000  # per series on a curve; more are min/max down-sampled and labelled "N of M"


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def series_of(backend: TrackerBackend, components: list[ComponentRecord], metric: str) -> list[dict[str, Any]]:
    """The chart series of ``metric`` for each component that logged it."""
    out = []
    for r in components:
        if metric not in r.metrics:
            continue
        points = backend.read_metric_points(r.name, metric)
        if not points:
            continue
        pts = points[0]
        steps = np.where(pts.iterations == NO_ITERATION, np.arange(len(pts.values)), pts.iterations).astype(np.float64)
        total = len(pts.values)
        order = np.argsort(steps, kind="mergesort")
        xs, ys = minmax_downsample(order, pts.values[order], MAX_POINTS)
        idx = xs.astype(np.int64)
        out.append(
            {
                "name": r.display_name or r.name,
                "component": r.name,
                "x": {"step": steps[idx].tolist(), "wall_time": pts.timestamps[idx].tolist()},
                "y": _finite(ys),
                "total": total,
            }
        )
    return out


def _controls(query: Any, path: str, metrics: list[str], metric: str, p: Params) -> str:
    x = p.choice("x", "step", ("step", "wall_time", "relative"))
    smooth = p.float("smooth", 0.6, 0.0, 0.999)
    metric_links = " ".join(
        f'<a href="{href(path, query, metric=m, zoom=None)}" data-keep-state="x,smooth"'
        f'{" class=sorted" if m == metric else ""} data-metric="{esc(m)}">{esc(m)}</a>'
        for m in metrics
    )
    axes = "".join(
        f'<option value="{a}"{" selected" if a == x else ""}>{label}</option>'
        for a, label in (("step", "step"), ("wall_time", "wall time"), ("relative", "relative time"))
    )
    return (
        f'<div class="chart-tools"><span>metric: {metric_links}</span>'
        f'<label>x-axis <select id="x-axis">{axes}</select></label>'
        f'<label>smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="{smooth}">'
        f'<span id="smoothing-value">{smooth}</span></label>'
        '<button type="button" id="reset-zoom">reset zoom</button></div>'
    )


def _zoom(p: Params) -> list[float] | None:
    raw = p.text("zoom")
    if not raw:
        return None
    try:
        a, b = (float(v) for v in raw.split(","))
    except ValueError:
        raise p.bad("zoom", raw, "two numbers x0,x1 with x0 < x1") from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise p.bad("zoom", raw, "two numbers x0,x1 with x0 < x1")
    return [a, b]


def chart_block(
    backend: TrackerBackend, components: list[ComponentRecord], request: Request, path: str, p: Params
) -> tuple[str, str]:
    """The metric chart's HTML and the chosen metric's name."""
    metrics = sorted({m for r in components for m in r.metrics})
    if not metrics:
        return '<p class="muted" id="no-metrics">These trial components logged no metrics.</p>', ""
    metric = p.text("metric") or metrics[0]
    if metric not in metrics:
        raise p.bad("metric", metric, "one of " + ", ".join(metrics[:20]))
    data = {
        "metric": metric,
        "x": p.choice("x", "step", ("step", "wall_time", "relative")),
        "smooth": p.float("smooth", 0.6, 0.0, 0.999),
        "zoom": _zoom(p),
        "series": series_of(backend, components, metric),
    }
    html = _controls(request.query_params, path, metrics, metric, p)
    return html + '<div id="metric-chart"></div>' + data_json("chart-data", data), metric


def _resolve(backend: TrackerBackend, experiment: str, p: Params) -> list[ComponentRecord]:
    names = p.names("c")
    for t in p.names("t"):
        try:
            trial = backend.get_trial(t)
        except NotFoundError:
            trial = None
        if trial is None or trial.experiment_name != experiment:
            raise StudioHTTPError(404, f"trial {t!r} does not exist in experiment {experiment!r}", p.back)
        names += [r.name for r in backend.list_components(trial_name=t)]
    return [_component(backend, experiment, name, p.back) for name in dict.fromkeys(names)]


def _component(backend: TrackerBackend, experiment: str, name: str, back: tuple[str, str]) -> ComponentRecord:
    try:
        r = backend.get_component(name)
    except NotFoundError:
        raise StudioHTTPError(404, f"trial component {name!r} does not exist", back) from None
    if experiment not in r.experiment_names:
        raise StudioHTTPError(404, f"trial component {name!r} is not in experiment {experiment!r}", back)
    return r


def _parallel(components: list[ComponentRecord], metric: str, stat: str) -> tuple[dict[str, Any], dict[str, float]]:
    params = sorted({k for r in components for k in r.parameters})
    values = [
        getattr(r.metrics[metric], stat.lower()) if metric in r.metrics else float("nan") for r in components
    ]
    axes = [{"name": n, "values": [r.parameters.get(n) for r in components]} for n in params]
    axes.append({"name": f"{metric} {stat}", "values": [v if math.isfinite(v) else None for v in values]})
    data = {"axes": axes, "lines": [r.display_name or r.name for r in components]}
    return data, parameter_importance([r.parameters for r in components], values)


def routes(studio: Studio, exp_url: Callable[..., str], check_experiment: Callable[[Request], str]) -> list[BaseRoute]:
    """The compare and component pages; ``exp_url(view, experiment, **names)`` builds their links
    and ``check_experiment(request)`` returns the experiment the URL names (or raises a 404)."""

    def compare(request: Request) -> Response:
        experiment = check_experiment(request)
        back = (exp_url("experiment", experiment), f"Back to {experiment}")
        p = Params(request.query_params, back)
        backend = studio.tracker()
        components = _resolve(backend, experiment, p)
        crumbs = [("/experiments", "Experiments"), (esc(back[0]), experiment), ("", "Compare")]
        if not components:
            body = (
                '<p id="nothing-selected">No trial components selected: tick some rows of the '
                f'experiment\'s table, then Compare.</p><p><a href="{esc(back[0])}">{esc(back[1])}</a></p>'
            )
            return page("Compare", body, area="experiments", crumbs=crumbs)
        path = "/experiments/compare"  # links keep the query, which names the experiment
        chart, metric = chart_block(backend, components, request, path, p)
        body = f"<h2>Metric curves</h2>{chart}"
        if metric:
            stat = p.choice("stat", "Last", SHOWN_STATS)
            data, importance = _parallel(components, metric, stat)
            stat_links = " ".join(
                f'<a href="{href(path, request.query_params, stat=s)}" data-keep-state="x,smooth,zoom"'
                f'{" class=sorted" if s == stat else ""}>{s}</a>'
                for s in SHOWN_STATS
            )
            bars = "".join(
                f'<div class="bar" data-param="{esc(n)}" data-importance="{v:.4f}"><span>{esc(n)}</span>'
                f'<i style="width:{max(2, int(v * 240))}px"></i><span>{v:.2f}</span></div>'
                for n, v in sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            body += (
                f"<h2>Parameters and {esc(metric)} ({stat_links})</h2>"
                f'<svg id="parallel" class="parallel"></svg>{data_json("parallel-data", data)}'
                f'<h2>Parameter importance for {esc(metric)} {esc(stat)}</h2><div class="bars" id="importance">'
                f'{bars or "<p class=muted>No parameters.</p>"}</div>'
                '<p class="muted">Absolute Spearman rank correlation (numeric parameters) or correlation '
                "ratio of ranks (categorical ones) over the compared runs; see docs/studio.md.</p>"
            )
        return page("Compare", body, area="experiments", crumbs=crumbs, scripts=["compare.js"])

    def component(request: Request) -> Response:
        experiment, name = check_experiment(request), request.query_params.get("component", "")
        back = (exp_url("experiment", experiment), f"Back to {experiment}")
        p = Params(request.query_params, back)
        backend = studio.tracker()
        r = _component(backend, experiment, name, back)
        params = table_html(["Parameter", "Value"], [[esc(k), fmt_value(v)] for k, v in sorted(r.parameters.items())],
                            table_id="parameters", empty="No parameters.")  # fmt: skip
        stats = [
            [esc(m), *(esc(f"{getattr(s, a):.6g}") for a in ("min", "max", "avg", "std_dev", "last")), str(s.count)]
            for m, s in sorted(r.metrics.items())
        ]
        metrics = table_html(["Metric", "Min", "Max", "Avg", "StdDev", "Last", "Count"], stats, table_id="metrics",
                             empty="No metrics.")  # fmt: skip
        arts = [
            [d, esc(k), esc(a.value), esc(a.media_type or "")]
            for d, group in (("input", r.input_artifacts), ("output", r.output_artifacts))
            for k, a in sorted(group.items())
        ]
        artifacts = table_html(["Direction", "Name", "Value", "Media type"], arts, table_id="artifacts",
                               empty="No artifacts.")  # fmt: skip
        chart, _ = chart_block(backend, [r], request, "/experiments/component", p)
        info = (
            f'<p><span class="status-{esc(r.status)}" id="status">{esc(r.status)}</span> '
            f'{esc(r.status_message or "")} · trials: {esc(", ".join(r.trial_names))}</p>'
        )
        body = (
            f"{info}<div class=cards><div><h2>Parameters</h2>{params}</div><div><h2>Metrics</h2>{metrics}</div></div>"
            f"<h2>Curves</h2>{chart}<h2>Artifacts</h2>{artifacts}"
        )
        crumbs = [("/experiments", "Experiments"), (esc(back[0]), experiment), ("", name)]
        return page(r.display_name or name, body, area="experiments", crumbs=crumbs, scripts=["compare.js"])

    return [
        Route("/experiments/compare", compare),
        Route("/experiments/component", component),
    ]
