"""The platform pages in a real Chromium over a real training job, AutoML job, endpoint with
capture and monitoring executions: what a person sees, and 404 pages for unknown names. The
studio is given its platform root (``platform_root=`` / ``--platform-root``) while ``$SMDBG_HOME``
points at an empty folder: the pages read the root they are given."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _studio_platform import built_platform  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*model.joblib is a pickle")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from smdbg.studio import serve

    with built_platform(tmp_path_factory.mktemp("platform")) as built:
        root = built["root"]
        # AutoML jobs and monitoring reports are found under the studio's folders; jobs and
        # endpoints under the platform root it is given ($SMDBG_HOME points elsewhere)
        handle = serve(port=0, trial_roots=[str(root / "automl"), str(built["reports"])],
                       tracker_db_url=f"sqlite:///{root / 'tracker.db'}", platform_root=str(built["home"]))  # fmt: skip
        try:
            yield {**built, "studio": handle}
        finally:
            handle.stop()


def url(platform: dict[str, Any], path: str, **query: Any) -> str:
    return f"http://127.0.0.1:{platform['studio'].port}{path}" + (f"?{urlencode(query)}" if query else "")


def test_jobs_list_and_a_job_with_metrics_and_logs(page: Any, platform: dict[str, Any]) -> None:
    page.goto(url(platform, "/platform/jobs"))
    row = page.locator("#jobs tbody tr").first
    assert "studio-train" in row.inner_text() and "Completed" in row.inner_text()
    row.locator("a.job-link").click()
    page.wait_for_url("**/platform/jobs/job?name=studio-train")
    page.wait_for_selector('.metric[data-metric="train:loss"] .chart[data-state]')  # the studio's line chart
    state = json.loads(page.get_attribute('.metric[data-metric="train:loss"] .chart', "data-state"))
    assert [(s["name"], s["shown"], s["last"]) for s in state["series"]] == [("algo-1", 4, 0.25)]
    assert state["label"] == "4 of 4 points" and state["series"][0]["max"] == 1.0
    assert page.locator("#final-metrics tbody tr td").nth(1).inner_text() == "0.25"
    assert "train_loss=0.2500" in page.locator('pre.log[data-host="algo-1"]').inner_text()
    assert page.locator("#hyperparameters").inner_text().count("epochs") == 1


def test_automl_leaderboard_best_candidate_and_notebooks(page: Any, platform: dict[str, Any]) -> None:
    page.goto(url(platform, "/platform/automl"))
    row = page.locator("#automl-jobs tbody tr").first
    assert "churn" in row.inner_text() and "Completed" in row.inner_text()
    row.locator("a.automl-link").click()
    page.wait_for_selector("#leaderboard")
    ranks = page.locator("#leaderboard tbody tr")
    assert ranks.count() == 2
    best = ranks.first.locator("td").nth(1).inner_text()
    assert best in page.locator("#best-candidate").inner_text()
    values = [float(ranks.nth(i).locator("td").nth(4).inner_text()) for i in range(2)]
    assert values == sorted(values, reverse=True)
    link = page.locator('a.notebook-link[data-notebook="data"]')
    resp = page.request.get(url(platform, "") + link.get_attribute("href"))
    assert resp.status == 200 and json.loads(resp.body())["nbformat"] == 4
    assert page.locator('a.notebook-link[data-notebook="candidates"]').count() == 1


def test_endpoints_show_status_and_capture_volume(page: Any, platform: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30  # the endpoint flushes its capture every 0.1 s
    while True:
        page.goto(url(platform, "/platform/endpoints"))
        text = page.locator("#endpoints tbody tr").first.inner_text()
        if "6 records" in text or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert "studio-ep" in text and "InService" in text and "6 records" in text


def test_monitoring_executions_with_their_violations(page: Any, platform: dict[str, Any]) -> None:
    page.goto(url(platform, "/platform/monitor"))
    rows = {r.locator("td").first.inner_text().rsplit("/", 1)[-1]: r for r in page.locator("#executions tbody tr").all()}
    assert set(rows) == {"drift", "clean"}
    assert "f2: baseline_drift_check" in rows["drift"].locator("li.violation").inner_text()
    assert "no violations" in rows["clean"].inner_text() and rows["clean"].locator("td").nth(1).inner_text() == "200"


def test_a_report_that_does_not_parse_is_named_and_the_others_shown(page: Any, platform: dict[str, Any]) -> None:
    broken = platform["reports"] / "broken"
    broken.mkdir()
    (broken / "constraint_violations.json").write_text('{"violations": [')  # cut short, as by a crash
    try:
        deadline = time.monotonic() + 30  # the studio lists the folders again after 2 s
        while page.goto(url(platform, "/platform/monitor")) and page.locator("#executions tbody tr").count() < 3:
            assert time.monotonic() < deadline, "the broken report was never listed"
            time.sleep(0.5)
        rows = {r.locator("td").first.inner_text().rsplit("/", 1)[-1]: r for r in page.locator("#executions tbody tr").all()}
        assert "constraint_violations.json does not parse" in rows["broken"].inner_text()
        assert "f2: baseline_drift_check" in rows["drift"].inner_text() and "no violations" in rows["clean"].inner_text()
    finally:
        (broken / "constraint_violations.json").unlink()
        broken.rmdir()


def test_unknown_names_are_404_pages_with_a_link_back(page: Any, platform: dict[str, Any]) -> None:
    for path, query, message, back in (
        ("/platform/jobs/job", {"name": "nope"}, "no job 'nope'", "/platform/jobs"),
        ("/platform/automl/job", {"id": "../../etc"}, "no AutoML job '../../etc'", "/platform/automl"),
        ("/platform/automl/notebook", {"id": "automl/churn", "which": "passwd"}, "no notebook 'passwd'", None),
    ):
        resp = page.goto(url(platform, path, **query))
        assert resp.status == 404, path
        assert message in page.locator("#error-message").inner_text()
        if back:
            assert page.locator("#back-link").get_attribute("href") == back


def test_cli_platform_root_is_what_the_pages_read(page: Any, platform: dict[str, Any], tmp_path: Path) -> None:
    from test_studio_cli import start, stop

    root = platform["root"]
    args = ["--platform-root", str(root / "home")]
    proc, base = start(args, f"sqlite:///{root / 'tracker.db'}", tmp_path, SMDBG_HOME=str(root / "elsewhere"))
    try:
        page.goto(base.rstrip("/") + "/platform/jobs")
        assert "studio-train" in page.locator("#jobs tbody tr").first.inner_text()
        page.goto(base.rstrip("/") + "/platform/endpoints")
        assert "studio-ep" in page.locator("#endpoints tbody tr").first.inner_text()
    finally:
        stop(proc)
    proc, base = start([], f"sqlite:///{root / 'tracker.db'}", tmp_path, SMDBG_HOME=str(root / "elsewhere"))
    try:  # without the option: the settings' default, $SMDBG_HOME, which holds no jobs
        page.goto(base.rstrip("/") + "/platform/jobs")
        assert f"No jobs in {root / 'elsewhere' / 'jobs'}." in page.locator("#jobs").inner_text()
    finally:
        stop(proc)
