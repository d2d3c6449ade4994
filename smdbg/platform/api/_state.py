"""The control plane's state: SageMaker names -> resource documents, in one SQLite file.

A resource is ``(kind, name) -> JSON document`` (the fields its Describe call returns, plus a
private ``_smdbg`` block). The file lives in the server's root directory, so a restarted server
knows every model, endpoint config, endpoint, job and schedule it had.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smdbg.platform.api._protocol import InUse, NotFound

__all__ = ["ApiState", "arn"]

ACCOUNT = "000000000000"
REGION = "us-east-1"


def arn(kind: str, name: str) -> str:
    """A SageMaker-shaped ARN (``arn:aws:sagemaker:us-east-1:000000000000:endpoint/name``); the
    account and region are fixed placeholders."""
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


class ApiState:
    """Resource documents by kind and name. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS resources (kind TEXT NOT NULL, name TEXT NOT NULL, "
            "created REAL NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, name))"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, kind: str, name: str, doc: dict[str, Any], what: str) -> dict[str, Any]:
        """Insert a new resource; ``ResourceInUse`` when the name is taken (``what`` names the kind)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO resources (kind, name, created, doc) VALUES (?, ?, ?, ?)",
                    (kind, name, time.time(), json.dumps(doc, default=str)),
                )
            except sqlite3.IntegrityError:
                raise InUse(
                    f"{what} {name!r} already exists; choose another name or delete it first"
                ) from None
        return doc

    def get(self, kind: str, name: str, what: str) -> dict[str, Any]:
        """The document; ``ResourceNotFound`` naming the resource when there is none."""
        doc = self.find(kind, name)
        if doc is None:
            raise NotFound(f"{what} {name!r} does not exist")
        return doc

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM resources WHERE kind=? AND name=?", (kind, name)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        """Replace an existing resource's document (no-op if it was deleted meanwhile)."""
        with self._lock:
            self._db.execute(
                "UPDATE resources SET doc=? WHERE kind=? AND name=?",
                (json.dumps(doc, default=str), kind, name),
            )

    def update(self, kind: str, name: str, **fields: Any) -> dict[str, Any] | None:
        """Merge ``fields`` into the document atomically; returns it (None if it is gone)."""
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM resources WHERE kind=? AND name=?", (kind, name)
            ).fetchone()
            if row is None:
                return None
            doc = dict(json.loads(row[0]))
            doc.update(fields)
            self._db.execute(
                "UPDATE resources SET doc=? WHERE kind=? AND name=?",
                (json.dumps(doc, default=str), kind, name),
            )
        return doc

    def delete(self, kind: str, name: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
        return cur.rowcount > 0

    def all(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every document of a kind, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM resources WHERE kind=? ORDER BY created, name", (kind,)
            ).fetchall()
        for (doc,) in rows:
            yield dict(json.loads(doc))
