"""The debugger pages in a real Chromium, over trials written by a real PyTorch hook: what a
person sees (chart points and their "N of M" label, histogram bars, the heatmap, rule findings on
the timeline, a live update arriving with the zoom kept, a URL restoring the view, 404 pages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _studio_trials import write_trial  # noqa: E402

from smdbg.store import TrialWriter, open_fs  # noqa: E402
from smdbg.trial import Finding, RuleStatus, RuleStatusDoc, write_findings, write_rule_status  # noqa: E402

LOSS = "CrossEntropyLoss_output_0"
# the corrupt trial's cut segment: the reader warns when it opens it (a page test checks the page names it)
pytestmark = pytest.mark.filterwarnings("ignore:corrupt segment")


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trials")
    write_trial(root / "done", steps=40)
    write_rule_status(str(root / "done"), RuleStatusDoc("loss_not_decreasing", RuleStatus.ISSUES_FOUND, "flat", 39, 1))
    write_findings(str(root / "done"), "loss_not_decreasing", [Finding("loss_not_decreasing", 25, "loss flat for 10 steps", LOSS)])
    write_trial(root / "corrupt", steps=10)
    (seg,) = (root / "corrupt" / "events" / "worker_0").glob("*.parquet")
    data = seg.read_bytes()  # a second segment, cut in half: the reader names it and reads the rest
    (seg.parent / "000001_10-19_deadbeef.parquet").write_bytes(data[: len(data) // 2])
    # a trial whose writer has started (its metadata is there) but published no segment yet
    TrialWriter(open_fs(str(root / "starting")), "worker_0", fsync=False).write_trial_metadata({"framework": "pytorch"})
    return root


@pytest.fixture(scope="module")
def studio(trials: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from smdbg.studio import serve

    db = tmp_path_factory.mktemp("db") / "tracker.db"
    handle = serve(port=0, trial_roots=[str(trials)], tracker_db_url=f"sqlite:///{db}")
    try:
        yield handle
    finally:
        handle.stop()


def chart(page: Any, which: str) -> dict[str, Any]:
    """What the page's chart ``which`` (``series`` or ``rules``) draws (chart.js's state)."""
    return json.loads(page.get_attribute(f"#{which}-chart", "data-state"))


def url(studio: Any, path: str, **query: Any) -> str:
    return f"http://127.0.0.1:{studio.port}{path}" + (f"?{urlencode(query)}" if query else "")


def trial_id(trials: Path, name: str) -> str:
    return f"{trials.name}/{name}"


def test_trial_list_links_to_a_trial_with_its_tensors(page: Any, studio: Any, trials: Path) -> None:
    page.goto(url(studio, "/debugger"))
    link = page.locator("a.trial-link", has_text=trial_id(trials, "done"))
    assert "ended" in page.locator("#trials tr", has=link).inner_text()
    link.click()
    page.wait_for_selector("#series-label[data-total]")
    tensors = page.locator("#tensors a.tensor-link").all_inner_texts()
    assert LOSS in tensors and "gradient/Net_fc1.weight" in tensors and "Net_fc1.weight" in tensors
    assert page.locator("#tensor-title").inner_text() == LOSS  # the loss is shown first
    assert page.locator("#series-label").inner_text() == "40 of 40 points"
    (drawn,) = chart(page, "series")["series"]
    assert drawn["shown"] == 40 and drawn["total"] == 40
    # the legend's min and max are those of the values drawn
    api = page.request.get(url(studio, "/debugger/api/series", trial=trial_id(trials, "done"), tensor=LOSS)).json()
    assert (drawn["min"], drawn["max"]) == (min(api["y"]), max(api["y"]))
    assert f"min {drawn['min']:.4f}"[:8] in page.locator("#series-chart .legend").inner_text()


def test_downsampled_series_says_n_of_m_and_zoom_lives_in_the_url(page: Any, studio: Any, trials: Path) -> None:
    tid = trial_id(trials, "done")
    page.goto(url(studio, "/debugger/trial", trial=tid, tensor="gradient/Net_fc1.weight", reduction="l2", points=10))
    page.wait_for_selector("#series-label[data-total]")
    label = page.locator("#series-label").inner_text()
    shown = chart(page, "series")["series"][0]["shown"]
    assert label == f"{shown} of 40 points" and 2 <= shown <= 10
    assert page.locator("#reduction-select").input_value() == "l2"
    # drag across the left part of the chart: the view zooms and the URL keeps the range
    box = page.locator("#series-chart canvas").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 100, steps=5)
    page.mouse.up()
    page.wait_for_function("() => new URLSearchParams(location.search).has('x0')")
    page.wait_for_function("() => document.querySelector('#series-label').textContent.includes('zoomed')")
    q = parse_qs(urlparse(page.url).query)
    x0, x1 = int(q["x0"][0]), int(q["x1"][0])
    assert 0 <= x0 < x1 < 39
    # the URL restores the view: a new page at the same URL shows the same zoomed range
    page.goto(page.url)
    page.wait_for_selector("#series-label[data-total]")
    assert "in the zoomed range (40 in all)" in page.locator("#series-label").inner_text()
    assert page.locator("#reduction-select").input_value() == "l2"


def test_raw_tensor_at_a_step_histogram_and_heatmap(page: Any, studio: Any, trials: Path) -> None:
    page.goto(url(studio, "/debugger/trial", trial=trial_id(trials, "done"), tensor="Net_fc1.weight", step=7))
    page.wait_for_selector("svg.histogram rect.hist-bar")
    assert page.locator("#step-label").inner_text().startswith("step 7 · shape [8, 6]")
    counts = [int(c) for c in page.eval_on_selector_all("svg.histogram rect.hist-bar", "rs => rs.map(r => r.dataset.count)")]
    assert sum(counts) == 48 and len(counts) == 40
    assert "values (48 of 48)" in page.locator(".step-values").inner_text()
    page.wait_for_selector("svg.heatmap rect.heat-cell")
    assert page.locator("#heatmap-label").inner_text() == "40 of 40 steps"
    # a weight saved raw: its history is computed from the raw tensors, and says so
    assert "computed from the raw tensors" in page.locator("#series-label").inner_text()
    # a click on the history (no drag) picks the nearest step: its raw value is shown, the URL keeps it
    box = page.locator("#series-chart canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') !== '7'")
    picked = int(parse_qs(urlparse(page.url).query)["step"][0])
    assert 20 < picked < 39
    page.wait_for_function(f"() => document.querySelector('#step-label').textContent.startsWith('step {picked} ')")


def test_rule_findings_on_the_timeline_beside_the_loss(page: Any, studio: Any, trials: Path) -> None:
    page.goto(url(studio, "/debugger/trial", trial=trial_id(trials, "done")))
    marker = page.wait_for_selector("#rules-chart .finding-marker")
    assert marker.get_attribute("data-step") == "25" and marker.get_attribute("data-rule") == "loss_not_decreasing"
    row = page.locator("table.rules tbody tr").first
    assert row.locator("td").nth(1).inner_text() == "IssuesFound"
    assert "step 25: loss flat for 10 steps" in row.inner_text()
    assert page.locator("#rules-chart .chart-label").inner_text() == "40 of 40 points"
    assert "loss_not_decreasing at step 25: loss flat" in marker.get_attribute("title")
    # zoomed to steps 0..20, the finding is outside the range: not drawn, and the state says so
    page.goto(url(studio, "/debugger/trial", trial=trial_id(trials, "done"), x0=0, x1=20))
    page.wait_for_function("""() => { const s = document.querySelector('#rules-chart').dataset.state;
                                      return !!s && JSON.parse(s).series.length === 1 && JSON.parse(s).zoom !== null; }""")
    assert chart(page, "rules")["markers"] == [{"x": 25, "label": "loss_not_decreasing at step 25: loss flat for 10 steps",
                                                "shown": False}]  # fmt: skip
    assert page.locator("#rules-chart .finding-marker").count() == 0


def test_corrupt_trial_shows_what_it_can_and_names_the_rest(page: Any, studio: Any, trials: Path) -> None:
    page.goto(url(studio, "/debugger"))
    assert "1 corrupt segment(s)" in page.locator("#trials tr", has=page.locator("a.trial-link", has_text="corrupt")).inner_text()
    page.goto(url(studio, "/debugger/trial", trial=trial_id(trials, "corrupt")))
    page.wait_for_selector("#series-label[data-total]")
    note = page.locator(".corrupt-note").inner_text()
    assert "000001_10-19_deadbeef.parquet" in note and "CRC-32" in note
    assert page.locator("#series-label").inner_text() == "10 of 10 points"


def test_unknown_trial_tensor_or_step_is_a_404_page_with_a_link_back(page: Any, studio: Any, trials: Path) -> None:
    resp = page.goto(url(studio, "/debugger/trial", trial="nope/../../etc"))
    assert resp.status == 404 and "no trial 'nope/../../etc'" in page.locator("#error-message").inner_text()
    page.locator("#back-link").click()
    page.wait_for_url("**/debugger")
    tid = trial_id(trials, "done")
    resp = page.goto(url(studio, "/debugger/trial", trial=tid, tensor="missing"))
    assert resp.status == 404 and "has no tensor 'missing'" in page.locator("#error-message").inner_text()
    assert page.locator("#back-link").get_attribute("href") == f"/debugger/trial?{urlencode({'trial': tid})}"
    api = page.request.get(url(studio, "/debugger/api/step", trial=tid, tensor="Net_fc1.weight", step=999))
    assert api.status == 404 and "no raw value at step 999" in api.json()["error"]
    assert page.request.get(url(studio, "/debugger/api/series", trial=tid, tensor=LOSS, x0="abc")).status == 400


def test_unknown_worker_or_reduction_is_a_404_page_and_an_unknown_step_is_named(page: Any, studio: Any,
                                                                                trials: Path) -> None:  # fmt: skip
    tid, tensor = trial_id(trials, "done"), "gradient/Net_fc1.weight"
    for extra, message in (({"worker": "worker_9"}, "has no worker 'worker_9' (it has worker_0)"),
                           ({"reduction": "median"}, "has no reduction 'median' (it has abs_max, l2, mean)")):  # fmt: skip
        resp = page.goto(url(studio, "/debugger/trial", trial=tid, tensor=tensor, **extra))
        assert resp.status == 404 and message in page.locator("#error-message").inner_text()
        assert "Traceback" not in page.content()
        page.locator("#back-link").click()  # back to the tensor, which shows
        page.wait_for_selector("#series-label[data-total]")
        assert page.locator("#tensor-title").inner_text() == tensor
    # a step that was never saved: the page shows the rest and says what is missing
    page.goto(url(studio, "/debugger/trial", trial=tid, tensor="Net_fc1.weight", step=999))
    page.wait_for_function("() => document.querySelector('#step-view').textContent.includes('no raw value at step 999')")
    page.wait_for_selector("#series-label[data-total]")
    assert page.locator("#series-label").inner_text().startswith("40 of 40 points")
    assert page.locator("svg.heatmap rect.heat-cell").count() > 0


def test_trial_not_written_yet_shows_what_there_is(page: Any, studio: Any, trials: Path) -> None:
    page.goto(url(studio, "/debugger"))
    row = page.locator("#trials tr", has=page.locator("a.trial-link", has_text=trial_id(trials, "starting")))
    assert "live" in row.inner_text()
    row.locator("a.trial-link").click()
    page.wait_for_selector("#selection")
    assert "no step is complete yet" in page.locator(".live-note").inner_text()
    assert page.locator("#selection").inner_text() == "No tensors saved yet."
    assert "0 steps" in page.locator("#tensors").inner_text()


def test_live_trial_updates_in_place_keeping_zoom_and_selection(page: Any, studio: Any, trials: Path) -> None:
    out, stop = trials / "live", trials / "live.stop"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "_live_writer.py"), str(out), str(stop), "0.1", "120"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        for _ in range(8):  # a few steps saved before the page opens
            proc.stdout.readline()
        tid = trial_id(trials, "live")
        page.goto(url(studio, "/debugger/trial", trial=tid, tensor="gradient/Net_fc2.weight", reduction="abs_max", x0=0, x1=3))
        page.wait_for_selector("#series-label[data-total]")
        assert "still running" in page.locator(".live-note").inner_text()
        first_total = int(page.locator("#series-label").get_attribute("data-total"))
        # the writer keeps saving: updates arrive by themselves, and the view stays as it was
        page.wait_for_function(
            f"() => +document.querySelector('#series-label').dataset.total >= {first_total + 5}", timeout=60_000
        )
        assert int(page.locator("#debugger").get_attribute("data-updates")) >= 1
        q = parse_qs(urlparse(page.url).query)
        assert (q["x0"], q["x1"], q["reduction"]) == (["0"], ["3"], ["abs_max"])
        assert page.locator("#reduction-select").input_value() == "abs_max"
        label = page.locator("#series-label").inner_text()
        assert label.startswith("4 of 4 points in the zoomed range") and "in all" in label
    finally:
        stop.touch()
        proc.wait(timeout=60)
