"""The Experiments area in a real browser (Debian's Chromium through Playwright): what a person
sees in the tables after sorting, filtering, paging and selecting, the compare page's chart,
parallel coordinates and importance, and URLs that restore a view."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.timeout(300)


def row_names(page: Any) -> list[str]:
    return page.eval_on_selector_all("#components tbody tr[data-name]", "rows => rows.map(r => r.dataset.name)")


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.evaluate("location.href")).query)


def chart_state(page: Any) -> dict[str, Any]:
    return json.loads(page.get_attribute("#metric-chart", "data-state"))


def loss_last(i: int) -> float:
    lr = 10.0 ** -(i % 3 + 1)
    return 2.0 / (1.0 + lr * 10 * 39) + 0.01 * i


def test_experiments_list_and_search(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/")
    assert page.url.endswith("/experiments")
    names = page.eval_on_selector_all("#experiments tbody tr td:first-child", "c => c.map(x => x.textContent)")
    assert names == ["MNIST", "empty"]
    page.fill("#search", "digit")
    page.click("form.filters button")
    page.wait_for_url("**q=digit**")
    assert page.eval_on_selector_all("#experiments tbody tr", "r => r.length") == 1
    page.click("text=MNIST")
    page.wait_for_url("**/experiments/experiment?experiment=mnist")
    assert page.inner_text("h1") == "mnist"
    trials = page.eval_on_selector_all("#trials tbody tr td:nth-child(2)", "c => c.map(x => x.textContent)")
    assert trials == ["lr sweep", "opt check"]


def test_sort_by_metric_column_on_the_server(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist")
    assert row_names(page) == [f"run-{i}" for i in range(8)]  # creation order
    page.click("th a[data-field='Metrics.loss.Last']")
    page.wait_for_url("**sort=Metrics.loss.Last**")
    want = sorted(range(8), key=loss_last)
    assert row_names(page) == [f"run-{i}" for i in want]
    page.click("th a[data-field='Metrics.loss.Last']")  # again: descending
    page.wait_for_url("**desc=1**")
    assert row_names(page) == [f"run-{i}" for i in reversed(want)]
    cells = page.eval_on_selector_all(
        "#components thead th", "h => h.map(x => x.textContent.trim())"
    )
    assert {"loss Min", "loss Max", "loss Avg"} <= {c.replace(" ▲", "").replace(" ▼", "") for c in cells}


def test_filter_status_search_and_paging(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist")
    page.fill("input[name=f]", "Parameters.lr<0.05")
    page.click("#apply")
    page.wait_for_url("**f=Parameters.lr**")
    assert row_names(page) == ["run-1", "run-2", "run-4", "run-5", "run-7"]
    page.select_option("#status", "Failed")
    page.click("#apply")
    page.wait_for_url("**status=Failed**")
    assert row_names(page) == ["run-5"]
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist&q=adam&size=5")
    assert row_names(page) == ["run-1", "run-3", "run-5", "run-7"]
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist&size=5")
    assert row_names(page) == [f"run-{i}" for i in range(5)]
    assert page.inner_text("#row-range") == "1–5 of 8"
    page.click("#next-page")
    page.wait_for_url("**page=2**")
    assert row_names(page) == ["run-5", "run-6", "run-7"]
    assert page.inner_text("#row-range") == "6–8 of 8"


def test_metric_columns_chooser(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist&metrics=loss")
    headers = page.eval_on_selector_all("#components thead th", "h => h.map(x => x.textContent.trim())")
    assert "loss Last" in headers and "acc Last" not in headers
    page.wait_for_selector("#metric-columns[data-loaded='2']")  # every metric name, loaded after the page
    page.select_option("#metric-columns", ["acc", "loss"])
    page.click("#apply")
    page.wait_for_url("**metrics=acc%2Closs**")
    headers = page.eval_on_selector_all("#components thead th", "h => h.map(x => x.textContent.trim())")
    assert [h for h in headers if h.endswith(" Last")] == ["acc Last", "loss Last"]
    cols = page.evaluate("fetch('/experiments/columns.json?experiment=mnist&trial=opt-check').then(r => r.json())")
    assert cols == {"metrics": ["acc", "loss"], "parameters": ["batch", "lr", "opt"]}


def test_trial_page_lists_its_components(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist")
    page.click("#trials >> text=opt check")
    page.wait_for_url("**/experiments/trial?experiment=mnist&trial=opt-check")
    assert row_names(page) == ["run-6", "run-7"]


def test_selection_compare_and_url_restores_the_view(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist&sort=Parameters.lr")
    page.check("input.select[value='run-0']")
    page.check("input.select[value='run-4']")
    assert query_of(page)["sel"] == ["run-0,run-4"]
    assert query_of(page)["sort"] == ["Parameters.lr"]
    # a reload keeps the sort and the ticks
    page.reload()
    assert page.is_checked("input.select[value='run-0']") and page.is_checked("input.select[value='run-4']")
    assert not page.is_checked("input.select[value='run-1']")
    page.click("#compare")
    page.wait_for_url("**/compare?experiment=mnist&c=run-0%2Crun-4")
    state = chart_state(page)
    assert [s["name"] for s in state["series"]] == ["run-0", "run-4"]
    assert state["xAxis"] == "step" and state["zoom"] is None
    page.click("a[data-metric='loss']")
    page.wait_for_url("**metric=loss**")
    state = chart_state(page)
    assert [s["total"] for s in state["series"]] == [40, 40]
    assert state["label"] == "80 of 80 points"
    assert state["series"][0]["last"] == pytest.approx(loss_last(0))
    # change the x-axis and smoothing, zoom by dragging: each lands in the URL
    page.select_option("#x-axis", "relative")
    page.fill("#smoothing", "0.3")
    page.dispatch_event("#smoothing", "input")
    box = page.locator("#metric-chart canvas").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=4)
    page.mouse.up()
    q = query_of(page)
    assert q["x"] == ["relative"] and q["smooth"] == ["0.3"]
    x0, x1 = (float(v) for v in q["zoom"][0].split(","))
    assert 0 < x0 < x1 < 60
    zoomed = page.url
    page.goto("about:blank")
    page.goto(zoomed)  # the URL alone restores metric, axis, smoothing and zoom
    state = chart_state(page)
    assert state["xAxis"] == "relative" and state["smoothing"] == 0.3
    assert state["zoom"] == pytest.approx([x0, x1])
    assert page.input_value("#x-axis") == "relative"
    assert page.input_value("#smoothing") == "0.3"


def test_compare_trials_parallel_coordinates_and_importance(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/experiment?experiment=mnist&sort=Status")
    page.check("input.select-trial[value='lr-sweep']")
    assert query_of(page)["tsel"] == ["lr-sweep"]
    page.click("th a[data-field='DisplayName']")  # sorting keeps the trial selection
    page.wait_for_url("**sort=DisplayName**")
    assert page.is_checked("input.select-trial[value='lr-sweep']")
    page.click("#compare-trials")
    page.wait_for_url("**/compare?experiment=mnist&t=lr-sweep")
    page.click("a[data-metric='loss']")
    page.wait_for_url("**metric=loss**")
    state = chart_state(page)
    assert [s["name"] for s in state["series"]] == [f"run-{i}" for i in range(6)]
    parallel = page.evaluate("window.smdbgParallel")
    assert parallel["axes"] == ["batch", "lr", "opt", "loss Last"]
    assert [line["points"] for line in parallel["lines"]] == [4] * 6
    assert page.eval_on_selector_all("#parallel path", "p => p.length") == 6
    importance = {
        el["param"]: float(el["value"])
        for el in page.eval_on_selector_all(
            "#importance .bar", "b => b.map(x => ({param: x.dataset.param, value: x.dataset.importance}))"
        )
    }
    assert importance["lr"] > 0.9
    assert importance["lr"] > importance["opt"]
    first = page.eval_on_selector("#importance .bar", "b => b.dataset.param")
    assert first == "lr"


def test_component_page(studio: Any, page: Any) -> None:
    page.goto(studio.base_url + "/experiments/component?experiment=mnist&component=run-5")
    assert page.inner_text("#status") == "Failed"
    params = page.eval_on_selector_all("#parameters tbody tr", "r => r.map(x => x.innerText.split('\\t'))")
    assert ["opt", "adam"] in params and ["batch", "64"] in params
    metrics = page.eval_on_selector_all("#metrics tbody tr td:first-child", "c => c.map(x => x.textContent)")
    assert metrics == ["acc", "loss"]
    assert chart_state(page)["series"][0]["total"] == 10  # acc, the first metric


M = "/experiments/experiment?experiment=mnist"


@pytest.mark.parametrize(
    ("path", "status", "message", "back"),
    [
        ("/experiments/experiment?experiment=nope", 404, "experiment 'nope' does not exist", "/experiments"),
        ("/experiments/experiment", 404, "no experiment named in the URL", "/experiments"),
        ("/experiments/trial?experiment=mnist&trial=nope", 404, "trial 'nope' does not exist in experiment 'mnist'", M),
        ("/experiments/trial?experiment=empty&trial=lr-sweep", 404,
         "trial 'lr-sweep' does not exist in experiment 'empty'", "/experiments/experiment?experiment=empty"),
        ("/experiments/component?experiment=mnist&component=nope", 404, "trial component 'nope' does not exist", M),
        ("/experiments/compare?experiment=mnist&c=run-1,ghost", 404, "trial component 'ghost' does not exist", M),
        (M + "&sort=Metrics.loss.Median", 400, "'Metrics.loss.Median' is not known", M),
        (M + "&page=zero", 400, "page='zero' is not valid", M),
        (M + "&f=lr%3F3", 400, "f='lr?3' is not valid", M),
        (M + "&metrics=nope", 400, "metrics='nope' is not valid", M),
        ("/experiments/compare?experiment=mnist&c=run-1&zoom=5,1", 400, "zoom='5,1' is not valid", M),
        ("/experiments/mnist/nothing", 404, "no page at '/experiments/mnist/nothing'", "/experiments"),
        ("/no/such/page", 404, "no page at '/no/such/page'", "/"),
    ],
)  # fmt: skip
def test_bad_urls_get_a_page_that_says_so(studio: Any, page: Any, path: str, status: int, message: str,
                                          back: str) -> None:  # fmt: skip
    response = page.goto(studio.base_url + path)
    assert response.status == status
    text = page.inner_text("#error-message")
    assert message in text
    assert "Traceback" not in page.content()
    assert page.get_attribute("#back-link", "href") == back
    page.click("#back-link")
    page.wait_for_load_state()
    here = urlparse(page.url)
    assert here.path + (f"?{here.query}" if here.query else "") == back or back == "/"
