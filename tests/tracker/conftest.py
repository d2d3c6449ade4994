"""Tracker test fixtures: a real PostgreSQL server (session-scoped) and per-test database URLs.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
unprivileged user ``nobody`` (created with ``useradd`` only if missing).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smdbg.tracker import close_all

PG_USER = "nobody"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    candidates += [f"/usr/local/bin/{name}", shutil.which(name) or ""]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError(
        f"PostgreSQL's {name} was not found in /usr/lib/postgresql/*/bin, /usr/local/bin or PATH; "
        "install it (Debian: apt-get install postgresql)"
    )


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    _ensure_user()
    return ["runuser", "-u", PG_USER, "--", *cmd]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free 127.0.0.1 port; yield ``postgresql+psycopg://postgres@host:port``."""
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="smdbg-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        _ensure_user()
        os.chmod(root, 0o755)
        for p in (root, sock):
            shutil.chown(p, user=PG_USER)
    subprocess.run(
        _as_user(
            [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        _as_user(
            [_pg_bin("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(sock), "-F"]
            + ["-c", "max_connections=200", "-c", "synchronous_commit=off"]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(
                f"host=127.0.0.1 port={port} user=postgres dbname=postgres", connect_timeout=2
            ).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start: {(root / 'server.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _ensure_user() -> None:
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)


def _admin(server: str, sql: str) -> None:
    import psycopg

    port = server.rsplit(":", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(sql)


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"tracker_{uuid.uuid4().hex[:12]}"
    _admin(postgres_server, f"CREATE DATABASE {name}")
    yield f"{postgres_server}/{name}"
    close_all()
    _admin(postgres_server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'db' / 'tracker.db'}"
    close_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each storage backend the tracker supports; contract tests run against all of them."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture(autouse=True)
def _isolated_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test touches ~/.smdbg: the default database and artifact store point into tmp_path."""
    monkeypatch.setenv("SMDBG_TRACKER_URL", f"sqlite:///{tmp_path / 'default' / 'tracker.db'}")
    monkeypatch.setenv("SMDBG_ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    yield
    close_all()
