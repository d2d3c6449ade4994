"""Endpoints of several instances: ``Model.deploy(initial_instance_count=2)`` runs two server
processes behind one port. Connections spread over both (each response names its instance in
``X-Smdbg-Instance``), each writes its own capture files and spill folder, the readers read both,
and deleting the endpoint stops both."""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import re
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest_serving import make_sklearn_model, read_capture_records, smdbg_home

from smdbg._proc import pid_alive
from smdbg.platform.jobs._instances import InstanceType, limit_prefix
from smdbg.platform.serving import DataCaptureConfig, EndpointError, Model, list_endpoints
from smdbg.platform.serving._capture_spill import SpillFiles
from smdbg.platform.serving._state import load_record, orphan_spill_dirs, spill_dir

__all__ = ["smdbg_home"]  # fixtures imported for pytest

pytestmark = pytest.mark.filterwarnings("ignore::smdbg.platform.serving.CodeExecutionWarning")

REQUESTS = 80


def _post(port: int, body: bytes) -> tuple[int, str]:
    """One request on a connection of its own (a new connection may go to any instance)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("x-smdbg-instance", "")
    finally:
        conn.close()


def test_two_instances_serve_capture_and_stop_together(smdbg_home: Path, tmp_path: Path) -> None:
    from smdbg.cli import main as cli
    from smdbg.platform.monitor import read_capture

    model_dir, _, _ = make_sklearn_model(tmp_path / "model")
    dest = tmp_path / "capture"
    capture = DataCaptureConfig(sampling_percentage=50, destination_s3_uri=str(dest))
    predictor = Model(str(model_dir)).deploy(
        initial_instance_count=2, endpoint_name="two", data_capture_config=capture
    )
    record = load_record("two")
    pids = [(i["pid"], i["pid_start"]) for i in record.instances]
    try:
        assert record.instance_count == 2 and len({pid for pid, _ in pids}) == 2
        assert all(pid_alive(pid, start) for pid, start in pids)
        (row,) = list_endpoints()
        assert (
            row["status"] == "InService" and row["instances"] == "2/2" and row["pids"] == [p for p, _ in pids]
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli(["endpoints", "list"]) == 0
        assert re.search(r"^two\s+InService\s+2/2\s", out.getvalue(), re.M), out.getvalue()

        served = Counter()
        for i in range(REQUESTS):
            status, instance = _post(record.port, f"{i},1,2,3\n".encode())
            assert status == 200
            served[instance] += 1
        assert set(served) == {"0", "1"}, served  # both instances (both pids) answered some
        sampled = predictor.capture_stats()
        assert sampled["submitted"] == sum(s["submitted"] for s in sampled["instances"])
        assert 0 < sampled["submitted"] <= REQUESTS
    finally:
        predictor.delete_endpoint()
    # SIGTERM to both: each flushed what it held; no pid of the endpoint is left
    assert not any(pid_alive(pid, start) for pid, start in pids)
    assert list_endpoints() == []
    records = read_capture_records(dest)
    assert len(records) == sampled["submitted"]
    assert len({r["eventMetadata"]["eventId"] for r in records}) == len(records)
    writers = {re.search(r"-i(\d+)-", f.name).group(1) for f in dest.rglob("*.jsonl")}  # type: ignore[union-attr]
    assert writers == {"0", "1"}
    table, n = read_capture(str(dest / "two"))  # the monitor's reader sees both instances' files
    assert n == len(records) and table.num_rows == len(records)


def test_when_one_instance_exits_the_others_take_every_connection(smdbg_home: Path, tmp_path: Path) -> None:
    model_dir, _, _ = make_sklearn_model(tmp_path / "model")
    predictor = Model(str(model_dir)).deploy(initial_instance_count=2, endpoint_name="lose-one")
    try:
        record = load_record("lose-one")
        gone = record.instances[1]
        os.killpg(gone["pid"], signal.SIGTERM)  # a process group this test's deploy started
        for _ in range(600):  # bounded: the instance finishes its (no) requests and exits
            if not pid_alive(gone["pid"], gone["pid_start"]):
                break
            time.sleep(0.05)
        (row,) = list_endpoints()
        assert row["status"] == "Degraded" and row["instances"] == "1/2"
        answers = [_post(record.port, b"1,2,3,4\n") for _ in range(30)]
        assert answers == [(200, "0")] * 30  # its socket left the group with it
    finally:
        predictor.delete_endpoint()
    assert not pid_alive(record.instances[0]["pid"], record.instances[0]["pid_start"])


@pytest.mark.parametrize("count", [0, -1, 33, 1.5, "2", True, None])
def test_a_bad_instance_count_is_refused_naming_it(smdbg_home: Path, tmp_path: Path, count: object) -> None:
    model_dir, _, _ = make_sklearn_model(tmp_path / "model")
    with pytest.raises(ValueError, match=re.escape(f"initial_instance_count={count!r} is not valid")) as e:
        Model(str(model_dir)).deploy(initial_instance_count=count)  # type: ignore[arg-type]
    assert "from 1 to 32" in str(e.value)
    assert list_endpoints() == []


def test_a_model_that_fails_stops_every_instance(smdbg_home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(
        EndpointError, match=r"(?s)instance \d of 2 exited; its log:\n.*cannot load sklearn model"
    ):
        Model(str(broken)).deploy(initial_instance_count=2, endpoint_name="broken2")
    assert list_endpoints() == []
    record_path = str(smdbg_home / "endpoints" / "broken2.json").encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):  # no instance of it is left running
        with contextlib.suppress(OSError):
            assert record_path not in cmdline.read_bytes().split(b"\0")


def test_spill_folders_are_per_instance_and_orphans_are_adopted(smdbg_home: Path) -> None:
    assert len({spill_dir("ep", k) for k in range(3)}) == 3
    for k in (1, 2):  # an earlier deployment of 3 instances left records in instances 1 and 2
        spill = SpillFiles(str(spill_dir("ep", k)), 1024)
        assert spill.add([("2024-05-01T12", f'{{"k": {k}, "n": {n}}}') for n in range(3)]) == 3
        spill.close()
    assert orphan_spill_dirs("ep", 2) == [spill_dir("ep", 2)]
    adopter = SpillFiles(str(spill_dir("ep", 0)), 1024, adopt=orphan_spill_dirs("ep", 2))
    assert not spill_dir("ep", 2).exists() and spill_dir("ep", 1).exists()  # 1 still runs
    taken = adopter.take()
    assert [line for _, line in taken] == [f'{{"k": 2, "n": {n}}}' for n in range(3)]
    assert adopter.take() == []


def test_instances_are_pinned_to_successive_cpu_groups() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    if not shutil.which("taskset"):
        assert limit_prefix(InstanceType("t", 1, None), offset=1) == []
        return
    for k in range(3):  # instance k of a 1-vCPU type: the k-th CPU, wrapping around
        words = limit_prefix(InstanceType("t", 1, None), offset=k)
        assert words == ["taskset", "-c", str(allowed[k % len(allowed)])]
    wide = limit_prefix(InstanceType("t", len(allowed) + 3, None), offset=1)  # more vCPUs than CPUs: all
    assert wide == ["taskset", "-c", ",".join(map(str, allowed))]
