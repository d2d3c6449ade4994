"""Names that hold ``/``, spaces, ``%``, ``#``, ``?``, ``+`` and Unicode open by URL and restore on
reload, in a real Chromium: an experiment, a trial, trial components (clicked through, compared),
a debugger trial in a folder so named and a tensor so named. Names travel as query values
(docs/studio.md, "Every view is a URL"); ids that would leave the studio's folders are still 404."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _studio_trials import write_trial  # noqa: E402

from smdbg.studio._layout import join_names, split_names  # noqa: E402
from smdbg.tracker import close_all, get_backend  # noqa: E402
from smdbg.tracker._records import ComponentRecord, ExperimentRecord, MetricBatch, TrialRecord  # noqa: E402

pytestmark = pytest.mark.timeout(300)

EXPERIMENT = "team/vision exp #1?"
TRIAL = "a/b 100% ü+"
COMPONENTS = ["run/0 #x?y,z", "rün/1 50%&z=1"]  # a comma: lists in the URL escape it
TRIAL_DIR = "ex p#1?%ü"  # a debugger trial's folder, under group/ (its id holds '/')
TENSOR = "odd/näme #1?%"


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("names")
    url = f"sqlite:///{root / 'tracker.db'}"
    b = get_backend(url)
    now = time.time()
    b.create_experiment(ExperimentRecord(EXPERIMENT, EXPERIMENT, "odd names", {}, now))
    for i, name in enumerate(COMPONENTS):
        b.create_component(ComponentRecord(name, name, "Completed", None, now, now + 1, now, now))
        steps = np.arange(20)
        b.write(name, parameters={"lr/base": 0.1 * (i + 1)},
                metrics=[MetricBatch("loss/train", 1.0 / (1 + steps + i), now + steps, steps)])  # fmt: skip
    b.create_trial(TrialRecord(TRIAL, EXPERIMENT, TRIAL, {}, now), COMPONENTS)
    trials = root / "trials"
    write_trial(trials / "group" / TRIAL_DIR, steps=6, extra=TENSOR)
    from smdbg.studio import serve

    handle = serve(port=0, tracker_db_url=url, trial_roots=[str(trials)])
    try:
        yield {"studio": handle, "trial_id": f"trials/group/{TRIAL_DIR}"}
    finally:
        handle.stop()
        close_all()


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def rows(page: Any) -> list[str]:
    return page.eval_on_selector_all("#components tbody tr[data-name]", "rs => rs.map(r => r.dataset.name)")


def test_experiment_trial_and_components_open_by_clicking_and_reload(page: Any, named: dict[str, Any]) -> None:
    page.goto(named["studio"].base_url + "/experiments")
    page.click(f"#experiments a:text-is('{EXPERIMENT}')")
    page.wait_for_selector("#components")
    assert page.inner_text("h1") == EXPERIMENT and query_of(page)["experiment"] == [EXPERIMENT]
    assert rows(page) == COMPONENTS
    page.reload()  # the URL alone restores the page
    assert page.inner_text("h1") == EXPERIMENT and rows(page) == COMPONENTS
    page.click(f"#trials a:text-is('{TRIAL}')")
    page.wait_for_url("**/experiments/trial?**")
    assert page.inner_text("h1") == TRIAL and rows(page) == COMPONENTS
    page.wait_for_selector("#metric-columns[data-loaded='1']")  # the names JSON, by the trial's name
    assert page.eval_on_selector_all("#metric-columns option", "o => o.map(x => x.value)") == ["loss/train"]
    page.click(f"#components a:text-is('{COMPONENTS[1]}')")
    page.wait_for_url("**/experiments/component?**")
    assert page.inner_text("h1") == COMPONENTS[1]
    assert query_of(page)["component"] == [COMPONENTS[1]]
    assert page.eval_on_selector_all("#metrics tbody td:first-child", "c => c.map(x => x.textContent)") == ["loss/train"]
    page.reload()
    assert page.inner_text("h1") == COMPONENTS[1]
    page.click(f".crumbs a:text-is('{EXPERIMENT}')")  # the breadcrumb back to the experiment
    page.wait_for_selector("#components")
    assert page.inner_text("h1") == EXPERIMENT


def test_selection_and_compare_with_odd_names(page: Any, named: dict[str, Any]) -> None:
    base = named["studio"].base_url
    page.goto(base + "/experiments/experiment?" + urlencode({"experiment": EXPERIMENT}))
    for name in COMPONENTS:
        page.check(f"input.select[value='{name}']")
    assert query_of(page)["sel"] == [join_names(COMPONENTS)] == ["run/0 #x?y\\,z,rün/1 50%&z=1"]
    page.reload()  # the ticks come back from the URL
    assert all(page.is_checked(f"input.select[value='{name}']") for name in COMPONENTS)
    page.click("#compare")
    page.wait_for_url("**/experiments/compare?**")
    state = json.loads(page.get_attribute("#metric-chart", "data-state"))
    assert [s["name"] for s in state["series"]] == COMPONENTS and state["label"] == "40 of 40 points"
    assert query_of(page)["experiment"] == [EXPERIMENT]
    page.click("a[data-metric='loss/train']")
    page.wait_for_url("**metric=loss%2Ftrain**")
    page.reload()
    state = json.loads(page.get_attribute("#metric-chart", "data-state"))
    assert [s["name"] for s in state["series"]] == COMPONENTS
    axes = page.evaluate("window.smdbgParallel.axes")
    assert axes == ["lr/base", "loss/train Last"]


def test_name_lists_escape_commas_and_backslashes_the_same_in_python_and_javascript(
    page: Any, named: dict[str, Any]
) -> None:
    names = ["a,b", "c\\d", "e\\,f", "\\", ",", "plain", "ü, /%"]
    joined = join_names(names)
    assert split_names(joined) == names
    assert split_names("x, y,,z") == ["x", "y", "z"]  # a hand-written list
    page.goto(named["studio"].base_url + "/experiments")
    assert page.evaluate("n => Studio.joinList(n)", names) == joined
    assert page.evaluate("j => Studio.splitList(j)", joined) == names


def test_debugger_trial_and_tensor_with_odd_names(page: Any, named: dict[str, Any]) -> None:
    base, tid = named["studio"].base_url, named["trial_id"]
    page.goto(base + "/debugger")
    page.click(f"a.trial-link:text-is('{tid}')")
    page.wait_for_selector("#series-label[data-total]")
    assert query_of(page)["trial"] == [tid]
    page.click(f"a.tensor-link[data-tensor='{TENSOR}']")
    page.wait_for_selector("#series-label[data-total]")
    assert page.inner_text("#tensor-title") == TENSOR and query_of(page)["tensor"] == [TENSOR]
    assert page.inner_text("#series-label").startswith("6 of 6 points")
    page.wait_for_function("() => document.querySelector('#step-label').textContent.startsWith('step')")
    assert page.inner_text("#step-label").startswith("step 5 · shape [3]")
    page.reload()  # tensor and trial restored from the URL, the API asked with the same names
    page.wait_for_selector("#series-label[data-total]")
    assert page.inner_text("#tensor-title") == TENSOR and page.inner_text("#series-label").startswith("6 of 6")
    resp = page.request.get(base + "/debugger/api/series?" + urlencode({"trial": tid, "tensor": "gradient/Net_fc1.weight"}))
    assert resp.status == 200 and resp.json()["tensor"] == "gradient/Net_fc1.weight"


@pytest.mark.parametrize(
    "trial",
    ["trials/group/..", "trials/group/../..", "trials/../../etc", "/etc", "trials/group/ex p#1?%ü/../../../x",
     "trials/group/./ex p#1?%ü", "..%2F..%2Fetc", "trials//group"],
)  # fmt: skip
def test_trial_ids_cannot_leave_the_studio_folders(page: Any, named: dict[str, Any], trial: str) -> None:
    resp = page.goto(named["studio"].base_url + "/debugger/trial?" + urlencode({"trial": trial}))
    assert resp.status == 404 and f"no trial {trial!r}" in page.inner_text("#error-message")
    api = page.request.get(named["studio"].base_url + "/debugger/api/overview?" + urlencode({"trial": trial}))
    assert api.status == 404


def test_experiment_names_are_looked_up_not_resolved(page: Any, named: dict[str, Any]) -> None:
    for name in ("../../etc/passwd", "team", "team/vision exp #1"):
        resp = page.goto(named["studio"].base_url + "/experiments/experiment?" + urlencode({"experiment": name}))
        assert resp.status == 404 and f"experiment {name!r} does not exist" in page.inner_text("#error-message")


def test_old_path_form_bookmarks_redirect(named: dict[str, Any]) -> None:
    """Bookmarks of the first release's path form land on the page they named, query kept."""
    import httpx

    base = named["studio"].base_url
    cases = {
        "/experiments/exp%201?sort=m": "/experiments/experiment?experiment=exp+1&sort=m",
        "/experiments/exp/trials/t%231": "/experiments/trial?experiment=exp&trial=t%231",
        "/experiments/exp/components/c?x=step": "/experiments/component?experiment=exp&component=c&x=step",
        "/experiments/exp/compare?sel=a,b&sel=c": "/experiments/compare?experiment=exp&sel=a%2Cb&sel=c",
        "/experiments/exp/columns.json": "/experiments/columns.json?experiment=exp",
    }
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        for old, new in cases.items():
            r = client.get(old)
            assert (r.status_code, r.headers["location"]) == (308, new), old
        for bad in ("/experiments/exp/nothing", "/experiments/exp/trials", "/experiments/exp/trials/t/more"):
            r = client.get(bad)
            assert r.status_code == 404 and "Traceback" not in r.text, bad
