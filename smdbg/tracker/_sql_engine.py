"""SQLAlchemy engine set-up: SQLite concurrency settings, transactions with retry, migrations."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc

from smdbg._optional import require
from smdbg.tracker._errors import InvalidValueError, SchemaVersionError, StorageUnavailableError
from smdbg.tracker._schema import MIGRATIONS, SCHEMA_VERSION, schema_version

__all__ = ["Database", "masked"]

T = TypeVar("T")

_BUSY_MARKERS = ("database is locked", "database is busy", "database table is locked")
_PG_RETRY_STATES = ("40001", "40P01")  # serialization failure, deadlock detected
_MMAP_BYTES = 256 * 1024 * 1024


def masked(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


def _retryable(err: exc.DBAPIError) -> bool:
    if any(m in str(err.orig).lower() for m in _BUSY_MARKERS):
        return True
    return getattr(err.orig, "sqlstate", None) in _PG_RETRY_STATES


class Database:
    """An engine plus ``transaction(fn)``, which runs ``fn(connection)`` in one transaction and
    retries it while the database is busy (SQLite) or on a serialization failure (PostgreSQL)."""

    def __init__(self, url: str, busy_timeout_s: float = 300.0) -> None:
        self.url = url
        self.busy_timeout_s = busy_timeout_s
        try:
            parsed = sa.engine.make_url(url)
        except exc.ArgumentError as e:
            raise InvalidValueError(
                f"tracker database URL {url!r} does not parse; expected e.g. 'sqlite:///path/tracker.db' "
                "or 'postgresql+psycopg://user:password@host:5432/db'"
            ) from e
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
            require("psycopg", extra="tracker", feature="a PostgreSQL tracker database")
        try:
            if self.is_sqlite:
                self.engine = self._sqlite_engine(parsed)
            else:
                self.engine = sa.create_engine(
                    parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10}
                )
        except (exc.ArgumentError, ImportError, exc.NoSuchModuleError) as e:
            raise InvalidValueError(
                f"cannot use tracker database URL {masked(url)!r}: {e}; expected a sqlite:/// or "
                "postgresql+psycopg:// URL (install 'psycopg[binary]' for PostgreSQL)"
            ) from e
        self._migrate()

    # -- engine ----------------------------------------------------------------------------------
    def _sqlite_engine(self, parsed: sa.URL) -> sa.Engine:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageUnavailableError(
                    f"cannot create the directory of tracker database {database!r}: {e}; "
                    "give a writable path in db_url or SMDBG_TRACKER_URL"
                ) from e
        engine = sa.create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": self.busy_timeout_s}
        )
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # transactions are begun explicitly below
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            deadline = time.monotonic() + self.busy_timeout_s
            while True:  # switching to WAL needs a moment of exclusive access
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                    break
                except Exception as e:  # sqlite3.OperationalError
                    if "locked" not in str(e).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(random.uniform(0.005, 0.05))
            cur.execute("PRAGMA synchronous=NORMAL")
            # Reads of large tables (the studio's sorted tables) go through the OS page cache by
            # memory map instead of copying pages into SQLite's small default cache.
            cur.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            # Writers take the write lock up front, so two writers never deadlock on an upgrade.
            read = conn.get_execution_options().get("smdbg_read", False)
            conn.exec_driver_sql("BEGIN DEFERRED" if read else "BEGIN IMMEDIATE")

        return engine

    # -- transactions ----------------------------------------------------------------------------
    def transaction(self, fn: Callable[[sa.Connection], T], read: bool = False) -> T:
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.002
        while True:
            try:
                with self.engine.connect() as conn:
                    if read:
                        conn.execution_options(smdbg_read=True)
                    with conn.begin():
                        return fn(conn)
            except exc.DBAPIError as e:
                if _retryable(e) and time.monotonic() < deadline:
                    time.sleep(random.uniform(0, delay))
                    delay = min(delay * 2, 0.25)
                    continue
                if isinstance(e, (exc.OperationalError, exc.InterfaceError)):
                    raise StorageUnavailableError(
                        f"tracker database {masked(self.url)!r} failed: {str(e.orig).strip()}; "
                        "check that the server is running and the URL (db_url or SMDBG_TRACKER_URL) is right"
                    ) from e
                raise

    # -- migrations ------------------------------------------------------------------------------
    def _migrate(self) -> None:
        def run(conn: sa.Connection) -> None:
            if not self.is_sqlite:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7345201)")
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"tracker database {masked(self.url)!r} has schema version {current}, newer than "
                    f"this smdbg's {SCHEMA_VERSION}; upgrade smdbg to use it"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version - 1](conn)
                conn.execute(sa.insert(schema_version).values(version=version))

        self.transaction(run)

    def dispose(self) -> None:
        self.engine.dispose()
