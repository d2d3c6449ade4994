"""Rule actions against real webhooks on 127.0.0.1: slow, failing and hanging ones, bad URLs and
credentials in URLs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from smdbg.rules import Notify, RuleConfigError, RuleJob, RuleStatus, builtin_rule, parse_action
from smdbg.store import BackgroundWriter, Record
from smdbg.trial import read_stop_request
from smdbg.trials import Trial, create_trial


def _trial(path: Path, nan_steps: tuple[int, ...] = (3, 5)) -> Trial:
    """A finished one-worker trial whose gradient is NaN at ``nan_steps``."""
    w = BackgroundWriter(str(path), "worker_0", flush_secs=60, fsync=False)
    w.write_trial_metadata({"framework": "test", "num_workers": 1})
    for step in range(8):
        value = float("nan") if step in nan_steps else 0.01
        w.add(
            step,
            "TRAIN",
            step,
            [Record("gradient/w", ("gradients",), "abs_mean", value, "float32", None, None)],
        )
        w.set_progress(step + 1, "TRAIN", step + 1)
    w.close()
    return create_trial(str(path))


class Hooks:
    """A webhook server: each path behaves differently; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []
        self.flaky_left = 2
        self.release = threading.Event()
        self.stop_seen: list[bool] = []
        self.trial_path = ""
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hooks.requests.append((self.path, body, self.headers.get("Authorization")))
                code = 204
                if self.path.startswith("/fail"):
                    code = 500
                elif self.path == "/flaky" and hooks.flaky_left > 0:
                    hooks.flaky_left -= 1
                    code = 503
                elif self.path == "/slow":  # answers only once the stop request is in the trial
                    deadline = time.monotonic() + 60
                    while read_stop_request(hooks.trial_path) is None and time.monotonic() < deadline:
                        time.sleep(0.01)
                    hooks.stop_seen.append(read_stop_request(hooks.trial_path) is not None)
                elif self.path == "/hang":
                    hooks.release.wait(60)
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    h = Hooks()
    yield h
    h.close()


def test_a_slow_webhook_does_not_delay_stop_training(tmp_path: Path, hooks: Hooks) -> None:
    trial = _trial(tmp_path / "t")
    hooks.trial_path = trial.path
    # notify listed first: the job still writes the stop request first, and never waits on the hook
    job = RuleJob(
        builtin_rule("exploding_tensor", trial), actions=[f"notify={hooks.base}/slow", "stop_training"]
    )
    assert [a.describe() for a in job.actions][0] == "stop_training"
    result = job.run()
    assert result.status is RuleStatus.ISSUES_FOUND and result.findings_count == 1
    assert hooks.stop_seen == [True]  # the POST found the stop request already written
    assert [b["finding"]["step"] for _, b, _ in hooks.requests] == [3]
    assert "action_errors" not in trial.rule_statuses()["exploding_tensor"].to_dict()


def test_failing_webhooks_are_retried_a_bounded_number_of_times(tmp_path: Path, hooks: Hooks) -> None:
    trial = _trial(tmp_path / "t", nan_steps=(4,))
    flaky = Notify(f"{hooks.base}/flaky", retries=3, backoff=0.01)
    dead = Notify(f"{hooks.base}/fail", retries=2, backoff=0.01)
    result = RuleJob(builtin_rule("exploding_tensor", trial), actions=[flaky, dead]).run()
    assert result.status is RuleStatus.ISSUES_FOUND  # a failing webhook never turns the run into Error
    paths = [p for p, _, _ in hooks.requests]
    assert paths.count("/flaky") == 3 and flaky.delivered == 1  # two 503s, then delivered
    assert paths.count("/fail") == 3  # one try and two retries, then given up
    errors = trial.rule_statuses()["exploding_tensor"]["action_errors"]
    assert errors == [f"notify={hooks.base}/fail: HTTP 500 after 3 attempts"]


def test_a_hanging_webhook_times_out_and_the_job_ends(tmp_path: Path, hooks: Hooks) -> None:
    trial = _trial(tmp_path / "t", nan_steps=(2,))
    hang = Notify(f"{hooks.base}/hang", timeout=0.2, retries=1, backoff=0.01)
    result = RuleJob(builtin_rule("exploding_tensor", trial), actions=[hang, "stop_training"]).run()
    assert result.status is RuleStatus.ISSUES_FOUND
    assert read_stop_request(trial.path) is not None
    (error,) = trial.rule_statuses()["exploding_tensor"]["action_errors"]
    assert (
        error.startswith(f"notify={hooks.base}/hang: ")
        and "timed out" in error
        and "after 2 attempts" in error
    )


def test_a_job_gives_up_on_unsent_notifications_at_its_end(tmp_path: Path, hooks: Hooks) -> None:
    trial = _trial(tmp_path / "t", nan_steps=(1,))
    hang = Notify(f"{hooks.base}/hang", timeout=30, retries=0)
    job = RuleJob(builtin_rule("exploding_tensor", trial), actions=[hang], action_timeout=0.2)
    assert job.run().status is RuleStatus.ISSUES_FOUND
    errors = trial.rule_statuses()["exploding_tensor"]["action_errors"]
    assert errors == [
        f"notify={hooks.base}/hang: 1 notification(s) still unsent after waiting 0.2s; given up"
    ]


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/hook", "out of range"),
        ("http://127.0.0.1:port/hook", "Port could not be cast"),
        ("ftp://127.0.0.1/hook", "the scheme must be http or https"),
        ("http:///hook", "names no host"),
        ("http://127.0.0.1/ho ok", "spaces or control characters"),
    ],
)
def test_malformed_urls_are_config_errors_when_the_job_is_made(
    tmp_path: Path, url: str, problem: str
) -> None:
    trial = _trial(tmp_path / "t")
    with pytest.raises(RuleConfigError, match=f"notify URL .* is not valid \\(.*{problem}"):
        parse_action(f"notify={url}")
    with pytest.raises(RuleConfigError):
        RuleJob(builtin_rule("exploding_tensor", trial), actions=[f"notify={url}"])
    assert trial.rule_statuses() == {}  # nothing ran, nothing was written


def test_the_cli_and_estimator_refuse_a_malformed_url_before_running(tmp_path: Path) -> None:
    trial = _trial(tmp_path / "t")
    out = subprocess.run(
        [sys.executable, "-m", "smdbg.rules.cli", "run", trial.path, "--rule", "exploding_tensor",
         "--action", "notify=http://[::1/hook"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "notify URL 'http://[::1/hook' is not valid" in out.stderr
    assert read_stop_request(trial.path) is None  # no finding was acted on
    from smdbg.platform.jobs import Estimator

    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    with pytest.raises(RuleConfigError, match="notify URL"):
        Estimator(entry_point=str(script), rule_actions=["stop_training", "notify=http://127.0.0.1:0x50/h"])


def test_credentials_in_urls_are_sent_as_basic_auth_and_never_stored(tmp_path: Path, hooks: Hooks) -> None:
    trial = _trial(tmp_path / "t", nan_steps=(6,))
    host = hooks.base.split("//", 1)[1]
    good = Notify(f"http://alice:s3cr%40t@{host}/ok?token=tok123&team=ml", backoff=0.01)
    bad = Notify(f"http://bob:hunter2@{host}/fail?api_key=k999", retries=0)
    assert good.describe() == f"notify=http://***@{host}/ok?token=***&team=ml"
    RuleJob(builtin_rule("exploding_tensor", trial), actions=[good, bad]).run()
    sent = {p.split("?")[0]: auth for p, _, auth in hooks.requests}
    assert sent["/ok"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
    status_file = Path(trial.path) / "rules" / "exploding_tensor" / "status.json"
    text = status_file.read_text()
    for secret in ("s3cr", "tok123", "hunter2", "k999", "alice", "bob"):
        assert secret not in text
    doc = json.loads(text)
    assert doc["actions"] == [good.describe(), f"notify=http://***@{host}/fail?api_key=***"]
    assert doc["action_errors"] == [f"notify=http://***@{host}/fail?api_key=***: HTTP 500 after 1 attempts"]
    with pytest.raises(RuleConfigError) as info:
        parse_action("notify=http://carol:pw9@[::1/x")
    assert "pw9" not in str(info.value) and "carol" not in str(info.value)
