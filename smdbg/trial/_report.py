"""The save report: what a hook saved per collection, and what it was asked for but did not
save, with the reason. One JSON document per worker, ``events/<worker>/save_report.json``,
written by the hook at ``close()`` and read here (``Trial.save_reports()``, ``smdbg trial
summary``). Plain values: no framework, no store import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SAVE_REPORT_FILE", "REASONS", "NotSaved", "CollectionSaved", "SaveReport", "read_save_reports"]

SAVE_REPORT_FILE = "save_report.json"

#: reason code -> what it means (the text a report prints)
REASONS: Mapping[str, str] = {
    "module_not_called": "module never called at a saved step",
    "no_gradient": "parameter without gradient (.grad was None at every saved step: not used in the loss?)",
    "frozen": "frozen parameter (requires_grad=False): it has no gradient",
    "save_config": "excluded by the save config (no step of this run was a save step of its collections)",
    "dtype": "unsupported dtype",
    "no_tensor": "its value held no tensor at any saved step",
    "not_recorded": "never recorded at a saved step (save_tensor / record_tensor_value)",
    "listed": "what it asks for was not saved (listed below)",
    "nothing_matched": "no tensor of the run is in it (register the model, or check its patterns)",
}


@dataclass(frozen=True)
class NotSaved:
    """A tensor the included collections ask for that was never saved, and why."""

    tensor: str
    collections: tuple[str, ...]
    reason: str  # a key of REASONS
    detail: str = ""  # e.g. the dtype

    def text(self) -> str:
        why = REASONS.get(self.reason, self.reason)
        return f"{self.tensor} ({', '.join(self.collections)}): {why}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class CollectionSaved:
    """What one collection saved: distinct tensors, and steps with at least one of them."""

    tensors: int = 0
    steps: int = 0
    reason: str = ""  # a key of REASONS: why nothing was saved, or "save_config" (no save step)


@dataclass(frozen=True)
class SaveReport:
    """One worker's save report."""

    worker: str
    framework: str
    steps: int
    mode_steps: Mapping[str, int] = field(default_factory=dict)
    collections: Mapping[str, CollectionSaved] = field(default_factory=dict)
    not_saved: Sequence[NotSaved] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "framework": self.framework,
            "steps": self.steps,
            "mode_steps": dict(self.mode_steps),
            "collections": {k: vars(v) for k, v in self.collections.items()},
            "not_saved": [{**vars(n), "collections": list(n.collections)} for n in self.not_saved],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SaveReport:
        return cls(
            worker=str(doc.get("worker", "?")),
            framework=str(doc.get("framework", "?")),
            steps=int(doc.get("steps", 0)),
            mode_steps={str(k): int(v) for k, v in dict(doc.get("mode_steps") or {}).items()},
            collections={str(k): CollectionSaved(**v) for k, v in dict(doc.get("collections") or {}).items()},
            not_saved=tuple(
                NotSaved(n["tensor"], tuple(n.get("collections", ())), n["reason"], n.get("detail", ""))
                for n in doc.get("not_saved") or ()
            ),
        )

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True).encode()

    def lines(self, limit: int = 20) -> list[str]:
        """The report as text: per collection what was saved, then what was not and why
        (at most ``limit`` tensors listed; the document has them all)."""
        modes = ", ".join(f"{m} {n}" for m, n in self.mode_steps.items() if n)
        out = [f"save report of {self.worker} ({self.framework}): {self.steps} steps" + (f" ({modes})" if modes else "")]
        for name, c in self.collections.items():
            if c.tensors and c.reason == "save_config":
                out.append(f"  {name:<20} {c.tensors} tensors saved through other collections; its own save "
                           "config selected no step of this run")  # fmt: skip
            elif c.tensors:
                out.append(f"  {name:<20} {c.tensors} tensors saved, at {c.steps} steps")
            else:
                out.append(f"  {name:<20} nothing saved: {REASONS.get(c.reason, c.reason or 'no tensor')}")
        if self.not_saved:
            out.append(f"  asked for but not saved: {len(self.not_saved)} tensors")
            out.extend(f"    {n.text()}" for n in self.not_saved[:limit])
            if len(self.not_saved) > limit:
                out.append(f"    ... and {len(self.not_saved) - limit} more (save_report.json of the worker lists all)")
        return out


def read_save_reports(source: Any) -> dict[str, SaveReport]:
    """Per worker directory of the trial (a ``TrialSource``), its save report, if written."""
    reports = {}
    for wdir in source.worker_dirs:
        data = source.read_document(f"events/{wdir}/{SAVE_REPORT_FILE}")
        if data is not None:
            reports[wdir] = SaveReport.from_dict(json.loads(data))
    return reports
