"""The README demo (examples/demo.py) end to end, as a user runs it: two training runs, the trials
read back, rules run over both; the badly configured run has findings, the healthy one none."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from smdbg.trials import create_trial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = ("loss_not_decreasing", "vanishing_gradient", "exploding_tensor", "overfit", "dead_relu")


def test_demo_trains_runs_rules_and_reports(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=180, cwd=str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    healthy, bad = out / "healthy", out / "lr_too_high"
    assert f"trial at {healthy}" in text and f"trial at {bad}" in text
    assert "loss: 1.0361 at step 0 -> nan" in text  # the bad run's loss explodes
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split() == ["rule", "healthy", "lr_too_high"])
    table = {}  # rule -> [status in healthy, status in lr_too_high]
    for line in lines[head + 1 : head + 1 + len(RULES)]:
        name, *cells = re.sub(r" \(\d+\)", "", line).split()
        table[name] = cells
    assert sorted(table) == sorted(RULES), text
    for rule in RULES:
        assert table[rule][0] == "NoIssuesFound", text
    for rule in ("loss_not_decreasing", "exploding_tensor", "dead_relu"):
        assert table[rule][1] == "IssuesFound", text
    assert "exploding_tensor     step 20   CrossEntropyLoss_output_0 has NaN or infinite values" in text
    assert "of the units of relu2_output_0 are dead at step 10" in text
    # the rule jobs stored their statuses in the trials
    assert {r: s["status"] for r, s in create_trial(healthy).rule_statuses().items()} == dict.fromkeys(
        RULES, "NoIssuesFound"
    )
    assert create_trial(bad).rule_statuses()["exploding_tensor"]["status"] == "IssuesFound"
    assert create_trial(bad).training_has_ended()
    # no percentage that means nothing (the bad run's loss goes to 1e16, then NaN)
    assert "went from 1.036 to 2.111e+16" in text and not re.search(r"(nan|e\+\d+)%", text), text


def test_demo_prints_commands_that_run_as_printed(tmp_path):
    """The commands the demo suggests run in a plain shell, without the virtualenv on PATH."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--out", str(out), "--steps", "30"],
                          capture_output=True, text=True, timeout=180, cwd=str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("the same from the command line"))
    cmds = [line.strip() for line in lines[head + 1 :] if line.startswith("  ")]
    assert len(cmds) == 3 and all("smdbg" in c.split()[0] for c in cmds), cmds
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"  # not the virtualenv's bin: the printed command must not need it
    expected = {"trial summary": 0, "rule run": 1, "rule describe": 0}  # rule run: 1 = IssuesFound
    for cmd in cmds:
        res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, env=env)
        code = next(v for k, v in expected.items() if k in cmd)
        assert res.returncode == code, f"{cmd}\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr and "command not found" not in res.stderr, res.stderr
