"""The README's Quick start, run as a new user runs it: its Python block saved as train.py and run,
then every command of its bash blocks, each in a real shell, in a fresh directory. The blocks are
read from README.md itself, so an edit that breaks the path breaks this test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block in the README's '## Quick start' section."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    return re.findall(r"^```(\w+)\n(.*?)^```", section.group(1), re.S | re.M)


def commands(code: str) -> list[str]:
    """The command lines of a bash block (comments and blank lines dropped)."""
    out = []
    for line in code.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_quick_start_blocks_are_found() -> None:
    blocks = quick_start_blocks()
    langs = [lang for lang, _ in blocks]
    assert langs.count("python") == 1 and langs.count("bash") >= 2, langs
    cmds = [c for lang, code in blocks if lang == "bash" for c in commands(code)]
    assert any(c.startswith("smdbg rule run runs/exp1 --rule vanishing_gradient") for c in cmds), cmds
    assert any(c.startswith("smdbg run ") for c in cmds), cmds


def test_quick_start_runs_as_written(tmp_path: Path) -> None:
    blocks = quick_start_blocks()
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the README's paths are relative to a clone
    bindir = os.path.dirname(sys.executable)
    assert os.access(os.path.join(bindir, "smdbg"), os.X_OK), f"no smdbg command next to {sys.executable}"
    env = {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }

    def run(cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    ran = []
    for lang, code in blocks:
        if lang == "python":
            (tmp_path / "train.py").write_text(code)
            cmds = [f"{sys.executable} train.py"]
        else:
            cmds = commands(code)
        for cmd in cmds:
            proc = run(cmd)
            ran.append(cmd)
            assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
            assert "Traceback" not in proc.stderr, f"{cmd}\n{proc.stderr}"
            if "rule run" in cmd:
                assert "NoIssuesFound" in proc.stdout, f"{cmd}\n{proc.stdout}"
            if "trial summary" in cmd:
                assert "ended      yes" in proc.stdout, proc.stdout
    assert len(ran) >= 6, ran

    # what the README says about a second run into the same directory
    again = run(f"{sys.executable} train.py")
    assert again.returncode != 0 and "already holds a trial" in again.stderr, again.stderr
