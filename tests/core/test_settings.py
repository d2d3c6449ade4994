"""Environment settings: read in smdbg._settings only, with defaults, aliases and empty-as-unset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import smdbg
from smdbg import _settings
from smdbg.hook_config import find_config_path
from smdbg.tracker import resolve_url

ROOT = Path(smdbg.__file__).parent
# Reading a variable (not forwarding the whole environment to a child process).
READ = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]")
# Files another change is moving; their reads switch to smdbg._settings when it lands.
PENDING: set[str] = set()


def test_no_module_reads_the_environment_but_settings() -> None:
    readers = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if READ.search(p.read_text()) and str(p.relative_to(ROOT)) != "_settings.py"
    )
    assert [r for r in readers if r not in PENDING] == []


def test_setting_aliases_defaults_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMDBG_CONFIG_FILE_PATH", "SMDEBUG_CONFIG_FILE_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert find_config_path() is None
    monkeypatch.setenv("SMDEBUG_CONFIG_FILE_PATH", "/from/smdebug.json")  # smdebug's name still works
    assert find_config_path() == "/from/smdebug.json"
    monkeypatch.setenv("SMDBG_CONFIG_FILE_PATH", "")  # empty counts as unset
    assert find_config_path() == "/from/smdebug.json"
    monkeypatch.setenv("SMDBG_CONFIG_FILE_PATH", "/mine.json")  # the first name wins
    assert find_config_path() == "/mine.json"
    assert _settings.CONFIG_FILE.is_set()

    monkeypatch.delenv("SMDBG_JOBS_BACKEND", raising=False)
    assert _settings.JOBS_BACKEND.get() == "local"


def test_home_and_tracker_url_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMDBG_HOME", str(tmp_path))
    assert _settings.home() == tmp_path
    monkeypatch.delenv("SMDBG_HOME")
    assert _settings.home() == Path.home() / ".smdbg"
    monkeypatch.setenv("SMDBG_TRACKER_URL", str(tmp_path / "t.db"))
    assert resolve_url() == f"sqlite:///{tmp_path / 't.db'}"


def test_every_setting_is_documented() -> None:
    doc = _settings.__doc__ or ""
    for name, setting in _settings.SETTINGS.items():
        assert setting.doc and name in doc, name
