"""The endpoint registry: one small JSON file per endpoint under ``$SMDBG_HOME/endpoints``.

The registry is what lets ``smdbg endpoints list|delete`` (another process) find and stop the
server a notebook started. A record names the server's pid and its start time, so a reused pid
is never mistaken for the endpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from smdbg._settings import home as smdbg_home
from smdbg.fs import check_path_component, write_atomic
from smdbg.platform.serving._errors import EndpointError, EndpointNotFound

__all__ = [
    "EndpointRecord",
    "smdbg_home",
    "endpoints_dir",
    "save_record",
    "load_record",
    "list_records",
    "remove_record",
    "validate_name",
    "extract_dir",
    "spill_dir",
]

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def endpoints_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/endpoints``; ``home`` None: the settings' state directory (``$SMDBG_HOME``, else ``~/.smdbg``)."""
    return (smdbg_home() if home is None else Path(home)) / "endpoints"


def extract_dir(name: str) -> Path:
    """Where the server unpacks a ``.tar.gz`` model; removed when the endpoint stops or is deleted."""
    return endpoints_dir() / f"{validate_name(name)}.model"


def spill_dir(name: str) -> Path:
    """Where the capture writer spills records that do not fit its memory budget."""
    return endpoints_dir() / f"{validate_name(name)}.spill"


def validate_name(name: str) -> str:
    check_path_component(name, "endpoint name", error=ValueError)  # it names the endpoint's files
    if not _NAME.match(name) or len(name) > 63:
        raise ValueError(
            f"endpoint name {name!r} is not valid: expected 1-63 letters, digits and hyphens, "
            "starting and ending with a letter or digit (e.g. 'churn-model-1')"
        )
    return name


@dataclasses.dataclass
class EndpointRecord:
    """What the registry holds about one endpoint (a frozen record, not a live handle)."""

    name: str
    port: int
    model_data: str
    framework: str
    entry_point: str | None = None
    variant: str = "AllTraffic"
    capture: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None
    instance_type: str = "local"
    pid: int | None = None
    pid_start: int | None = None
    created: str = ""
    log_path: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _path(name: str) -> Path:
    return endpoints_dir() / f"{validate_name(name)}.json"


def save_record(record: EndpointRecord) -> Path:
    path = _path(record.name)
    write_atomic(str(path), json.dumps(record.to_dict(), indent=2).encode())
    return path


def load_record(name: str) -> EndpointRecord:
    path = _path(name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(r.name for r in list_records()) or "none"
        raise EndpointNotFound(
            f"no endpoint named {name!r} in {endpoints_dir()} (registered: {known}); "
            "deploy a model first or check SMDBG_HOME"
        ) from None
    except json.JSONDecodeError as e:
        raise EndpointError(f"endpoint record {path} is not valid JSON ({e}); delete the file") from e
    return EndpointRecord.from_dict(data)


def list_records(home: str | os.PathLike[str] | None = None) -> list[EndpointRecord]:
    out = []
    for path in sorted(endpoints_dir(home).glob("*.json")):
        try:
            out.append(EndpointRecord.from_dict(json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError, TypeError):
            continue
    return out


def remove_record(name: str) -> None:
    _path(name).unlink(missing_ok=True)
