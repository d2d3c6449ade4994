"""Rule jobs, the CLI, actions (against a real HTTP server on 127.0.0.1), invoke_rule with a
ported smdebug-style rule, Rule.builtin, and bad input ending in status Error."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from rules_helpers import open_trial, raw, red, train_steps

from smdbg.config import CollectionConfig
from smdbg.rules import (
    Rule,
    RuleConfigError,
    RuleEvaluationConditionMet,
    RuleJob,
    RuleStatus,
    builtin_rule,
    invoke_rule,
    read_findings,
    rule_configs,
)
from smdbg.store.control import read_stop_request


def grads(step: int, nan_at: int | None = None) -> list:
    v = float("nan") if step == nan_at else 0.01
    return [
        red("gradient/Net_fc1.weight", "gradients", "abs_mean", v),
        raw("CrossEntropyLoss_output_0", "losses", np.float32(1.0)),
    ]


def cli(*args: str) -> subprocess.CompletedProcess:
    """``smdbg rule ...`` through the rules' own entry point (the same parser the smdbg CLI mounts)."""
    assert args[0] == "rule"
    return subprocess.run(
        [sys.executable, "-m", "smdbg.rules.cli", *args[1:]], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def http_sink():
    """A real HTTP server on 127.0.0.1 collecting POSTed JSON bodies."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_job_writes_status_findings_and_fires_actions(tmp_path, http_sink):
    url, got = http_sink
    trial = open_trial(tmp_path, train_steps(10, lambda s: grads(s, nan_at=6)))
    job = RuleJob(builtin_rule("exploding_tensor", trial), actions=["stop_training", f"notify={url}"])
    result = job.run()
    assert result.status is RuleStatus.ISSUES_FOUND and result.findings_count == 1
    status = trial.rule_statuses()["exploding_tensor"]
    assert status["status"] == "IssuesFound" and status["findings_count"] == 1 and status["last_step"] == 9
    assert [f.step for f in read_findings(trial.path, "exploding_tensor")] == [6]
    stop = read_stop_request(trial.path)
    assert stop is not None and stop["rule"] == "exploding_tensor" and stop["step"] == 6
    assert trial.stop_requested() is not None
    assert (
        len(got) == 1
        and got[0]["finding"]["tensor"] == "gradient/Net_fc1.weight"
        and got[0]["finding"]["step"] == 6
    )


def test_job_no_issues_and_notify_failure_is_recorded(tmp_path):
    trial = open_trial(tmp_path, train_steps(5, grads))
    result = RuleJob(
        builtin_rule("vanishing_gradient", trial), actions=["notify=http://127.0.0.1:9/none"]
    ).run()
    assert result.status is RuleStatus.NO_ISSUES_FOUND
    assert trial.rule_statuses()["vanishing_gradient"]["status"] == "NoIssuesFound"
    assert read_stop_request(trial.path) is None


def test_cli_run_and_list(tmp_path):
    trial = open_trial(tmp_path, train_steps(10, lambda s: grads(s, nan_at=3)))
    out = cli("rule", "run", trial.path, "--rule", "exploding_tensor", "--param", "only_nan=true")
    assert out.returncode == 1, out.stderr
    assert "FINDING step 3" in out.stdout and "IssuesFound" in out.stdout
    assert trial.rule_statuses()["exploding_tensor"]["status"] == "IssuesFound"
    out = cli("rule", "run", trial.path, "--rule", "vanishing_gradient", "--quiet")
    assert out.returncode == 0 and "NoIssuesFound" in out.stdout
    listing = cli("rule", "list").stdout
    assert "dead_relu" in listing and "threshold_inactivity" in listing


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rule", "no_such_rule"], "unknown rule 'no_such_rule'"),
        (["--rule", "vanishing_gradient", "--param", "treshold=1"], "unknown parameter treshold"),
        (
            ["--rule", "vanishing_gradient", "--param", "threshold=abc"],
            "threshold='abc' is not a valid float",
        ),
        (["--rule", "exploding_tensor", "--param", "tensor_regex=^nothing$"], "matches no tensor"),
        (["--rule", "weight_update_ratio"], "collection 'weights'"),
        (["--rule", "exploding_tensor", "--action", "explode"], "unknown action 'explode'"),
    ],
)
def test_bad_input_ends_in_error_status(tmp_path, args, expected):
    trial = open_trial(tmp_path, train_steps(4, grads))
    out = cli("rule", "run", trial.path, *args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr + out.stdout
    name = args[1]
    status = trial.rule_statuses()[name]
    assert status["status"] == "Error" and expected in status["reason"], status
    if "weights" in expected:
        assert "include_collections=['weights']" in status["reason"]


def test_missing_reduction_names_what_to_save(tmp_path):
    trial = open_trial(
        tmp_path, train_steps(3, lambda s: [red("gradient/Net_fc1.weight", "gradients", "mean", 0.1)])
    )
    result = RuleJob(builtin_rule("vanishing_gradient", trial)).run()
    assert (
        result.status is RuleStatus.ERROR
        and "abs_mean" in result.reason
        and "ReductionConfig" in result.reason
    )


class PortedRule(Rule):
    """An smdebug-style user rule: invoke_at_step, raising RuleEvaluationConditionMet."""

    def __init__(self, base_trial, threshold: float = 0.5) -> None:  # type: ignore[no-untyped-def]
        super().__init__(base_trial)
        self.threshold = threshold
        self.seen: list[int] = []

    def invoke_at_step(self, step: int) -> bool:
        self.seen.append(step)
        loss = self.base_trial.tensor("CrossEntropyLoss_output_0").value(step)
        if float(loss) > self.threshold:
            raise RuleEvaluationConditionMet(self.rule_name, step)
        return False


def test_invoke_rule_with_ported_and_builtin_rules(tmp_path):
    steps = [
        (s * 10, "TRAIN", s, [raw("CrossEntropyLoss_output_0", "losses", np.float32(1.0 if s == 3 else 0.1))])
        for s in range(5)
    ]
    trial = open_trial(tmp_path, steps)
    rule = PortedRule(trial)
    found = invoke_rule(rule)
    assert [f.step for f in found] == [30] and rule.seen == [0, 10, 20, 30, 40]  # saved steps only
    with pytest.raises(RuleEvaluationConditionMet, match="step 30"):
        invoke_rule(PortedRule(trial), raise_eval_cond=True)
    assert invoke_rule(PortedRule(trial), start_step=31) == []
    with pytest.raises(RuleEvaluationConditionMet):
        PortedRule(trial).invoke(30)
    nan_trial = open_trial(tmp_path, train_steps(3, lambda s: grads(s, nan_at=1)), name="nan")
    with pytest.raises(RuleEvaluationConditionMet, match="NaN"):
        builtin_rule("exploding_tensor", nan_trial).invoke(1)
    builtin_rule("exploding_tensor", nan_trial).invoke(2)  # quiet step: no exception
    assert RuleJob(PortedRule(trial), name="ported").run().status is RuleStatus.ISSUES_FOUND


def test_rule_builtin_gives_rule_and_collections(tmp_path):
    spec = Rule.builtin(rule_configs.vanishing_gradient(), rule_parameters={"threshold": "0.05"})
    assert spec.collection_names() == ["gradients"]
    assert dict(spec.collections_to_save[0].parameters or {})["reductions"] == "abs_mean,abs_max"
    trial = open_trial(tmp_path, train_steps(3, grads))
    rule = spec.create(trial)
    assert rule.params["threshold"] == 0.05 and [f.step for f in rule.evaluate()] == [0]
    custom = Rule.builtin(
        rule_configs.dead_relu(), collections_to_save=[CollectionConfig("outputs", {"save_interval": "10"})]
    )
    assert custom.collection_names() == ["outputs"] and type(spec).from_dict(spec.to_dict()) == spec
    with pytest.raises(RuleConfigError, match="unknown parameter"):
        Rule.builtin(rule_configs.overfit(), rule_parameters={"patience_typo": 3})
    assert set(rule_configs.names()) >= {"stalled_training", "nlp_sequence_ratio", "check_input_images"}
