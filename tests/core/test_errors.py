"""One error root: ``except smdbg.SmdbgError`` catches an error from every component.

Each error is raised by the real call a user would make with bad input, and each still is the
builtin it refines, so ``except ValueError`` / ``except KeyError`` clauses keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import smdbg


def _store(tmp: Path) -> None:
    from smdbg.store.reader import TrialReader

    bad = tmp / "trial" / "events" / "worker_0"
    bad.mkdir(parents=True)
    (bad / "000000_0-0_00000000.parquet").write_bytes(b"not parquet")
    TrialReader(str(tmp / "trial"), on_corrupt="raise").refresh()


def _trial(tmp: Path) -> None:
    smdbg.create_trial(str(tmp / "missing"), timeout=0)


def _tracker(tmp: Path) -> None:
    from smdbg.tracker._artifacts import upload_artifact

    upload_artifact(tmp / "no-such-file", str(tmp / "artifacts"), "component", "name")


def _jobs(tmp: Path) -> None:
    from smdbg.platform.jobs import describe_job

    describe_job("no-such-job")


def _automl(tmp: Path) -> None:
    from smdbg.platform.automl import AutoML

    AutoML("target", output_path=tmp).fit(tmp / "missing.csv", logs=False)


def _monitor(tmp: Path) -> None:
    from smdbg.platform.monitor import parse_schedule

    parse_schedule("every tuesday")


def _serving(tmp: Path) -> None:
    from smdbg.platform.serving import delete_endpoint

    delete_endpoint("no-such-endpoint")


def _rules(tmp: Path) -> None:
    from smdbg.rules._actions import parse_action

    parse_action("explode")


def _optional(tmp: Path) -> None:
    from smdbg._optional import require

    require("smdbg_no_such_package", extra="s3", feature="this test")


CASES: list[tuple[Callable[[Path], None], str, type[BaseException]]] = [
    (_store, "CorruptSegmentError", ValueError),
    (_trial, "NoTrialFound", FileNotFoundError),
    (_tracker, "InvalidValueError", ValueError),
    (_jobs, "JobNotFound", KeyError),
    (_automl, "AutoMLInputError", ValueError),
    (_monitor, "ScheduleError", ValueError),
    (_serving, "EndpointNotFound", KeyError),
    (_rules, "RuleConfigError", ValueError),
    (_optional, "MissingDependencyError", ImportError),
]


@pytest.mark.parametrize("call,name,builtin", CASES, ids=[c[1] for c in CASES])
def test_one_root_catches_every_component(
    call: Callable[[Path], None],
    name: str,
    builtin: type[BaseException],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMDBG_HOME", str(tmp_path / "home"))
    with pytest.raises(smdbg.SmdbgError) as info:
        call(tmp_path)
    assert type(info.value).__name__ == name
    assert isinstance(info.value, builtin)  # still the builtin it refines
    assert str(info.value).strip()  # a message a user can read


def test_component_bases_are_smdbg_errors() -> None:
    from smdbg.platform.automl import AutoMLError
    from smdbg.platform.jobs import JobError
    from smdbg.platform.monitor import MonitorError
    from smdbg.platform.serving import ServingError
    from smdbg.tracker import TrackerError

    for base in (TrackerError, JobError, AutoMLError, MonitorError, ServingError):
        assert issubclass(base, smdbg.SmdbgError), base
