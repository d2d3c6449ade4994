"""The platform jobs fixtures (private SMDBG_HOME, a real Docker engine) for the security tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))

from _jobs_fixtures import docker_engine, jobs_cli, jobs_home, write_script  # noqa: E402

__all__ = ["docker_engine", "jobs_cli", "jobs_home", "write_script"]
