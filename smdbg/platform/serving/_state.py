"""The endpoint registry: one small JSON file per endpoint under ``$SMDBG_HOME/endpoints``.

The registry is what lets ``smdbg endpoints list|delete`` (another process) find and stop the
servers a notebook started. A record names every instance's pid and its start time, so a reused
pid is never mistaken for the endpoint.
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
    "extract_dirs",
    "spill_dir",
    "orphan_spill_dirs",
]

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def endpoints_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/endpoints``; ``home`` None: the settings' state directory (``$SMDBG_HOME``, else ``~/.smdbg``)."""
    return (smdbg_home() if home is None else Path(home)) / "endpoints"


def _instance_path(name: str, kind: str, instance: int) -> Path:
    return endpoints_dir() / f"{validate_name(name)}.{kind}{'' if instance == 0 else f'.{int(instance)}'}"


def extract_dir(name: str, instance: int = 0) -> Path:
    """Where instance ``instance`` unpacks a ``.tar.gz`` model (``<name>.model``, ``<name>.model.<k>``
    for ``k`` > 0); removed when the instance stops or the endpoint is deleted."""
    return _instance_path(name, "model", instance)


def extract_dirs(name: str) -> list[Path]:
    """Every instance's :func:`extract_dir` that exists."""
    base = extract_dir(name)
    return [p for p in (base, *base.parent.glob(base.name + ".*")) if p.exists()]


def spill_dir(name: str, instance: int = 0) -> Path:
    """Where instance ``instance``'s capture writer spills records that do not fit its memory
    budget: ``<name>.spill`` for instance 0 (as before instances existed), ``<name>.spill.<k>``
    for the others, so that no two instances share spill files."""
    return _instance_path(name, "spill", instance)


def orphan_spill_dirs(name: str, count: int) -> list[Path]:
    """Spill folders of instances ``>= count`` (left by an earlier deployment with more
    instances); instance 0 adopts their records so that none wait for an instance that no
    longer exists."""
    out = []
    for path in endpoints_dir().glob(f"{validate_name(name)}.spill.*"):
        k = path.suffix[1:]
        if k.isdigit() and int(k) >= count and path.is_dir():
            out.append(path)
    return sorted(out)


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
    pid: int | None = None  # instance 0's (kept for readers of the one-instance record)
    pid_start: int | None = None
    created: str = ""
    log_path: str = ""
    instance_count: int = 1
    #: one ``{"pid", "pid_start", "port", "log_path"}`` per instance; ``port`` is the instance's own
    #: address (for ``/ping`` and ``/capture/stats`` of that instance), ``self.port`` the shared one
    instances: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def processes(self) -> list[tuple[int, int | None]]:
        """``(pid, start time)`` of every started instance (a record of an older release: its one pid)."""
        procs = [(int(i["pid"]), i.get("pid_start")) for i in self.instances if i.get("pid")]
        if not procs and self.pid:
            procs = [(self.pid, self.pid_start)]
        return procs

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
