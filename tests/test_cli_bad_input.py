"""Every ``smdbg`` command given bad input (a missing path, a wrong tensor, rule, job or endpoint
name, a negative interval or timeout, a bad option value) answers with one line on stderr that
says what was wrong and what is valid, exit status 2, and no traceback. The commands are read
from ``smdbg --help`` (the parser), so a new command without a case here fails the coverage test."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smdbg.cli import build_parser
from smdbg.store import BackgroundWriter, Record

ROOT = Path(__file__).resolve().parent.parent

# (command words, extra arguments, what the one line must contain); {trial} is a real trial,
# {missing} a path where nothing is, {tmp} a scratch directory.
CASES: list[tuple[str, list[str], str]] = [
    ("trial summary", ["{missing}", "--timeout", "0"], "no smdbg trial at"),
    ("trial summary", ["{trial}", "--timeout", "-1"], "expected a number of seconds >= 0"),
    ("trial tensor", ["{trial}", "no_such_tensor"], "expected one of fc.weight, loss"),
    ("trial tensor", ["{trial}", "fc.weight", "--reduction", "abs_min"], "expected one of abs_max, mean"),
    ("trial tensor", ["{missing}", "loss", "--timeout", "0"], "no smdbg trial at"),
    ("trial tensor", ["{trial}", "loss", "--step", "-3"], "expected a whole number >= 0"),
    ("trial compact", ["{missing}"], "no smdbg trial at"),
    ("trial compact", ["{trial}", "--max-mb", "-1"], "expected a whole number >= 1"),
    ("run", ["{missing}/train.py"], "expected a path to a .py file"),
    ("run", ["--save-interval", "-10", "train.py"], "expected a whole number >= 1"),
    ("run", ["--collections", "gradient", "train.py"], "expected some of default, all, weights"),
    ("run", ["--reductions", "median", "train.py"], "expected min, max, mean"),
    ("rule run", ["{missing}", "--rule", "vanishing_gradient", "--wait", "0"], "no smdbg trial at"),
    ("rule run", ["{trial}", "--rule", "vanishing_gradeint"], "expected one of all_zero"),
    (
        "rule run",
        ["{trial}", "--rule", "exploding_tensor", "--poll-interval", "-1"],
        "expected a number of seconds > 0",
    ),
    (
        "rule run",
        ["{trial}", "--rule", "exploding_tensor", "--timeout", "-5"],
        "expected a number of seconds >= 0",
    ),
    (
        "rule run",
        ["{trial}", "--rule", "exploding_tensor", "--wait", "nan"],
        "expected a number of seconds >= 0",
    ),
    (
        "rule run",
        ["{trial}", "--rule", "loss_not_decreasing", "--param", "num_steps=-2"],
        "expected a value >= 1",
    ),
    ("rule describe", ["no_such_rule"], "expected one of all_zero"),
    ("rule list", ["--bogus"], "unrecognized arguments: --bogus"),
    ("experiments list", ["--db-url", "nosuchdb://x"], "nosuchdb"),
    ("experiments show", ["no-such-experiment"], "no-such-experiment"),
    ("export tensorboard", ["--trial", "{missing}", "{tmp}/tb"], "no smdbg trial at"),
    ("export tensorboard", ["--experiment", "no-such-experiment", "{tmp}/tb"], "no-such-experiment"),
    ("jobs list", ["--bogus"], "unrecognized arguments: --bogus"),
    ("jobs describe", ["no-such-job"], "no job named 'no-such-job'"),
    ("jobs logs", ["no-such-job"], "no job named 'no-such-job'"),
    ("jobs stop", ["no-such-job"], "no job named 'no-such-job'"),
    ("jobs stop", ["no-such-job", "--timeout", "-1"], "expected a number of seconds >= 0"),
    ("endpoints list", ["--bogus"], "unrecognized arguments: --bogus"),
    ("endpoints delete", ["no-such-endpoint"], "no endpoint named 'no-such-endpoint'"),
    ("endpoints delete", ["x", "--timeout", "-1"], "expected a number of seconds >= 0"),
    ("api serve", ["--port", "99999"], "expected a port number from 0 to 65535"),
    ("api serve", ["--host", "0.0.0.0"], "no credentials are configured"),
    ("api serve", ["--credentials-file", "{missing}"], "cannot be read as JSON"),
    ("studio", ["--host", "0.0.0.0", "--port", "0"], "host '0.0.0.0' is reachable from other machines; give a token"),
    ("studio", ["--port", "70000"], "expected a port number from 0 to 65535"),
    ("studio", ["--db-url", "nosuchdb://x"], "nosuchdb"),
    ("studio", ["--trials", "{missing}"], "is not a directory; expected directories holding debugger trials"),
    ("studio", ["--platform-root", "{missing}"], "is not a directory; expected the platform's state directory"),
]


def cli_commands() -> set[str]:
    """Every command path ``smdbg --help`` offers: 'run', 'trial summary', 'rule run' ..."""

    def walk(parser: argparse.ArgumentParser, prefix: str) -> set[str]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return {prefix}
        return {
            name
            for a in subs
            for word, p in a.choices.items()
            for name in walk(p, f"{prefix} {word}".strip())
        }

    return walk(build_parser(), "")


def test_every_command_has_a_bad_input_case() -> None:
    assert cli_commands() == {words for words, _, _ in CASES}


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "trial"
    with BackgroundWriter(path, "worker_0", flush_secs=0.1) as w:
        w.write_trial_metadata({"framework": "pytorch", "num_workers": 1})
        for s in range(3):
            loss = Record("loss", ("losses",), "raw", 3.0 - s, "float32", (), np.float32(3 - s).tobytes())
            weight = [
                Record("fc.weight", ("weights",), key, 0.5, "float32", (4, 2), b"")
                for key in ("abs_max", "mean")
            ]
            w.add(s, "TRAIN", s, [loss, *weight])
    return path


@pytest.mark.parametrize(
    ("words", "args", "expected"), CASES, ids=[f"{w} {' '.join(a)}" for w, a, _ in CASES]
)
def test_bad_input_is_one_line_and_exit_2(words: str, args: list[str], expected: str, trial: Path,
                                          tmp_path: Path) -> None:  # fmt: skip
    fill = {"trial": str(trial), "missing": str(tmp_path / "no" / "such"), "tmp": str(tmp_path)}
    argv = [*words.split(), *(a.format(**fill) for a in args)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SMDBG_HOME": str(tmp_path / "home"),
        "SMDBG_TRACKER_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
    }
    proc = subprocess.run([sys.executable, "-m", "smdbg.cli", *argv], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)  # fmt: skip
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert lines[0].startswith(f"smdbg {words}: error: "), lines[0]
    assert expected in lines[0], lines[0]
