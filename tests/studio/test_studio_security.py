"""The studio's security (docs/studio.md, Security): loopback by default, a token anywhere else,
no file outside the studio's folders, a Host header check against DNS rebinding, and the
command line refusing to start without a token off loopback."""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from smdbg.studio import StudioError, serve
from smdbg.studio._app import STATIC_DIR
from smdbg.studio._context import inside, is_loopback
from smdbg.studio._errors import StudioHTTPError

pytestmark = pytest.mark.timeout(300)


def raw_get(base_url: str, path: str, host: str | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    u = urlparse(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_default_host_is_loopback(studio: Any) -> None:
    assert studio.host == "127.0.0.1"
    assert studio.url == studio.base_url + "/"


def test_non_loopback_host_needs_a_token() -> None:
    with pytest.raises(StudioError, match="host '0.0.0.0' is reachable from other machines; give a token"):
        serve("0.0.0.0", 0)
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/__init__.py",
        "/static/..%2f_app.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ],
)
def test_path_traversal_is_refused(studio: Any, path: str) -> None:
    status, body = raw_get(studio.base_url, path)
    assert status == 404
    assert b"root:" not in body and b"def create_app" not in body and b"smdbg studio" in body


def test_inside_refuses_links_and_dots_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "ok.txt").write_text("fine")
    (tmp_path / "secret.txt").write_text("no")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    assert inside(root, "ok.txt") == (root / "ok.txt").resolve()
    for bad in ("../secret.txt", "link.txt", "/etc/passwd", "a/../../secret.txt"):
        with pytest.raises(StudioHTTPError) as e:
            inside(root, bad)
        assert e.value.status == 404


def test_static_files_are_served(studio: Any) -> None:
    r = httpx.get(studio.base_url + "/static/chart.js")
    assert r.status_code == 200
    assert r.text == (STATIC_DIR / "chart.js").read_text()


def test_foreign_host_header_is_refused_without_token(studio: Any) -> None:
    status, body = raw_get(studio.base_url, "/experiments", host="attacker.example:8080")
    assert status == 403
    assert b"attacker.example" in body and b"MNIST" not in body
    status, _ = raw_get(studio.base_url, "/experiments", host=f"localhost:{studio.port}")
    assert status == 200


def test_token_is_required_on_every_request(make_studio: Any, page: Any) -> None:
    handle = make_studio(token="s3cret-token")
    assert handle.url.endswith("/?token=s3cret-token")
    for path in ("/experiments", "/experiments/experiment?experiment=mnist", "/static/chart.js", "/no/such/page"):
        r = httpx.get(handle.base_url + path)
        assert r.status_code == 401, path
        assert "MNIST" not in r.text
    assert httpx.get(handle.base_url + "/experiments?token=wrong").status_code == 401
    headers = {"Authorization": "Bearer s3cret-token"}
    assert httpx.get(handle.base_url + "/experiments", headers=headers).status_code == 200
    assert httpx.get(handle.base_url + "/experiments", headers={"Authorization": "Bearer nope"}).status_code == 401
    # a foreign Host header is fine with a token (the token is the protection)
    status, _ = raw_get(handle.base_url, "/experiments", host="studio.example")
    assert status == 401
    # in a browser: the URL with the token sets a cookie and drops the token from the address bar
    page.goto(handle.url)
    assert urlparse(page.url).path == "/experiments" and "token" not in page.url
    page.click("text=MNIST")
    page.wait_for_url("**/experiments/experiment?experiment=mnist")
    assert page.eval_on_selector_all("#components tbody tr[data-name]", "r => r.length") == 8


def test_port_in_use_is_a_clear_error(studio: Any) -> None:
    with pytest.raises(StudioError, match=f"could not start on 127.0.0.1:{studio.port}"):
        serve(port=studio.port, startup_timeout=20)


def test_internal_errors_show_no_traceback(make_studio: Any, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.mkdir()  # a directory where the SQLite file should be: the tracker cannot open it
    handle = make_studio(tracker_db_url=f"sqlite:///{bad}")
    r = httpx.get(handle.base_url + "/experiments")
    assert r.status_code == 503
    assert "unable to open database file" in r.text
    assert "Traceback" not in r.text and 'id="error-message"' in r.text


def test_names_and_values_are_text_not_markup(make_studio: Any, page: Any, tmp_path: Path) -> None:
    import time

    import numpy as np

    from smdbg.tracker import get_backend
    from smdbg.tracker._records import ComponentRecord, ExperimentRecord, MetricBatch, TrialRecord

    url = f"sqlite:///{tmp_path / 'xss.db'}"
    b = get_backend(url)
    now = time.time()
    evil = '<img src=x onerror="window.pwned=1">'
    b.create_experiment(ExperimentRecord("xss", evil, evil, {}, now))
    b.create_component(ComponentRecord("c1", evil, "Completed", None, now, now, now, now))
    b.write("c1", parameters={"note": "</script><script>window.pwned=2</script>"},
            metrics=[MetricBatch("loss</script>", np.ones(3), np.full(3, now), np.arange(3))])  # fmt: skip
    b.create_trial(TrialRecord("t1", "xss", evil, {}, now), ["c1"])
    handle = make_studio(tracker_db_url=url)
    for path in ("/experiments", "/experiments/experiment?experiment=xss", "/experiments/compare?experiment=xss&c=c1&stat=Max",
                 "/experiments/component?experiment=xss&component=c1"):  # fmt: skip
        page.goto(handle.base_url + path)
        assert page.evaluate("window.pwned") is None, path
        assert page.locator("img").count() == 0, path
    assert evil in page.inner_text("h1")
    assert page.evaluate("smdbgCharts.metric.state().series[0].total") == 3
