"""The job supervisor: a detached process per job that owns its workers (``python -m`` this).

It reads ``spec.json`` from the job directory, starts the workers through the backend, keeps each
worker's log in ``logs/<host>.log``, turns log lines into metrics, runs the rule jobs beside the
training, copies processing outputs, and writes the job's status into ``job.json``.

A stop request (the ``stop-requested`` file :func:`~smdbg.platform.jobs.stop_job` writes, or a
SIGTERM, handled from the moment ``main`` starts) ends the job Stopped: looked for before the
workers start (then none starts) and every 0.1 s while they run (then they are stopped).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smdbg._secrets import SecretMask
from smdbg.platform.jobs._backend import Backend, WorkerHandle, WorkerSpec
from smdbg.platform.jobs._env import merge_secrets
from smdbg.platform.jobs._metrics import compile_metric_definitions
from smdbg.platform.jobs._outputs import copy_outputs
from smdbg.platform.jobs._state import iso_now, private_file, stop_requested, update_job
from smdbg.platform.jobs._tracking import JobTracking

__all__ = ["main", "make_backend", "worker_from_json"]

TAIL_LINES = 10
RULE_GRACE_S = 60.0


def make_backend(name: str, image: str | None, options: Mapping[str, Any] | None = None) -> Backend:
    """The backend called ``name``; ``options`` are the Ray backend's (``address``...)."""
    if name == "ray":
        from smdbg.platform.jobs._ray import RayBackend

        return RayBackend(**dict(options or {}))
    if name == "docker":
        from smdbg.platform.jobs._docker import DockerBackend

        return DockerBackend(image)
    from smdbg.platform.jobs._local import LocalBackend

    return LocalBackend()


def worker_from_json(d: dict[str, Any]) -> WorkerSpec:
    return WorkerSpec.from_spec(d)


class Supervisor:
    def __init__(
        self, job_dir: Path, secrets: Mapping[str, Any] | None = None, stop: threading.Event | None = None
    ) -> None:
        self.dir = job_dir
        self.spec: dict[str, Any] = json.loads((job_dir / "spec.json").read_text())
        merge_secrets(self.spec, secrets or {})
        self.mask = SecretMask(
            [w["env"] for w in self.spec["workers"]]
            + [{"argv": " ".join(r["argv"])} for r in self.spec.get("rules", [])]
        )
        self.name: str = self.spec["name"]
        self.kind: str = self.spec["kind"]
        self.backend = make_backend(self.spec["backend"], self.spec.get("image"), self.spec.get("ray"))
        self.metrics = compile_metric_definitions(self.spec.get("metric_definitions"))
        self.stop_requested = stop or threading.Event()  # set by SIGTERM or a stop request
        self.lock = threading.Lock()
        self.final_metrics: dict[str, dict[str, Any]] = {}
        self.tails: dict[str, deque[str]] = {}
        self.codes: dict[str, int] = {}
        self.handles: dict[str, WorkerHandle] = {}
        self.rule_codes: dict[str, int] = {}
        self.tracking = JobTracking.start(self.spec)

    # -- status ------------------------------------------------------------------------------------
    def _status(self, status: str, secondary: str, **extra: Any) -> None:
        key = "TrainingJobStatus" if self.kind == "training" else "ProcessingJobStatus"
        update_job(self.name, **{key: status, "SecondaryStatus": secondary}, **extra)

    def _time_key(self, which: str) -> str:
        prefix = "Training" if self.kind == "training" else "Processing"
        return f"{prefix}{which}Time"

    def _stop_asked(self) -> bool:
        if not self.stop_requested.is_set() and stop_requested(self.dir):
            self.stop_requested.set()
        return self.stop_requested.is_set()

    # -- workers -----------------------------------------------------------------------------------
    def _read(self, host: str, handle: WorkerHandle) -> None:
        log = self.dir / "logs" / f"{host}.log"
        tail = self.tails[host]
        step = 0
        with private_file(log, "a") as f:
            for line in handle.lines():
                line = self.mask(line) if self.mask else line
                f.write(line + "\n")
                f.flush()
                tail.append(line)
                for m in self.metrics:
                    value = m.match(line)
                    if value is None:
                        continue
                    with self.lock:
                        entry = self.final_metrics.setdefault(m.name, {"MetricName": m.name, "Count": 0})
                        step = entry["Count"]
                        entry.update(Value=value, Timestamp=iso_now(), Count=step + 1)
                    self.tracking.log_metric(m.name, value, step)
        self.codes[host] = handle.wait()

    def _start_rules(self) -> list[tuple[str, subprocess.Popen[bytes] | WorkerHandle]]:
        procs: list[tuple[str, subprocess.Popen[bytes] | WorkerHandle]] = []
        (self.dir / "rules").mkdir(mode=0o700, exist_ok=True)
        env = dict(self.spec["workers"][0]["env"]) if self.spec.get("workers") else {}
        for rule in self.spec.get("rules", []):
            side = self.backend.start_sidecar(rule["name"], rule["argv"], env)
            if side is not None:  # the backend runs it (a Ray actor); its log is pumped here
                procs.append((rule["name"], side))
                pump = threading.Thread(target=self._pump_rule, args=(rule["name"], side), daemon=True)
                pump.start()
                continue
            log = private_file(self.dir / "rules" / f"{rule['name']}.log", "ab")
            proc = subprocess.Popen(
                rule["argv"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
            procs.append((rule["name"], proc))
        pids = {n: p.pid for n, p in procs if isinstance(p, subprocess.Popen)}
        if pids:
            update_job(self.name, _smdbg={"rule_pids": pids})
        return procs

    def _pump_rule(self, name: str, handle: WorkerHandle) -> None:
        with private_file(self.dir / "rules" / f"{name}.log", "a") as f:
            for line in handle.lines():
                f.write((self.mask(line) if self.mask else line) + "\n")
                f.flush()
        self.rule_codes[name] = handle.wait()

    def _finish_rules(
        self, procs: list[tuple[str, subprocess.Popen[bytes] | WorkerHandle]], stopped: bool
    ) -> dict[str, int]:
        codes: dict[str, int] = {}
        deadline = time.monotonic() + (0 if stopped else RULE_GRACE_S)
        for name, proc in procs:
            if not isinstance(proc, subprocess.Popen):
                while name not in self.rule_codes and time.monotonic() < deadline:
                    time.sleep(0.1)
                if name not in self.rule_codes:
                    proc.stop(5.0)
                codes[name] = self.rule_codes.get(name, -15)
                continue
            try:
                codes[name] = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                codes[name] = proc.wait()
        return codes

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())  # run() without main()
        self._status("InProgress", "Starting", **{self._time_key("Start"): iso_now()})
        specs = [worker_from_json(w) for w in self.spec["workers"]]
        (self.dir / "logs").mkdir(mode=0o700, exist_ok=True)
        threads = []
        for spec in specs:
            self.tails[spec.host] = deque(maxlen=TAIL_LINES)
        if self._stop_asked():  # stopped while this process started: no worker starts
            self.backend.close()
            return self._end("Stopped", None, [])
        try:
            self.handles = dict(zip([s.host for s in specs], self.backend.start_group(specs), strict=True))
        except Exception as e:  # a worker that cannot start fails the job with the reason
            self.backend.close()
            return self._end("Failed", f"ClientError: could not start the job: {e}", [])
        update_job(self.name, _smdbg={"workers": {h: w.ident for h, w in self.handles.items()}})
        for host, handle in self.handles.items():
            t = threading.Thread(target=self._read, args=(host, handle), name=f"log-{host}", daemon=True)
            t.start()
            threads.append(t)
        rules = self._start_rules()
        self._status("InProgress", "Training" if self.kind == "training" else "Processing")
        grace = float(self.spec.get("stop_grace_s", 10.0))
        failed_host: str | None = None
        while any(t.is_alive() for t in threads):
            if self._stop_asked():
                break
            failed_host = next((h for h, c in self.codes.items() if c != 0), None)
            if failed_host is not None:  # one worker failed: stop the others, as a cluster job would
                break
            time.sleep(0.1)
        stopped = self.stop_requested.is_set()
        if stopped:
            self._status("Stopping", "Stopping")
        if stopped or failed_host is not None:
            for h in self.handles.values():
                h.stop(grace)
        for t in threads:
            t.join(timeout=30)
        rule_codes = self._finish_rules(rules, stopped)
        self.backend.close()
        update_job(self.name, _smdbg={"rule_exit_codes": rule_codes})
        if stopped:
            return self._end("Stopped", None, [])
        failed_host = failed_host or next((h for h, c in self.codes.items() if c != 0), None)
        if failed_host is not None and self._rule_stopped():
            return self._end("Stopped", None, [])  # a rule's stop_training action ended it
        if failed_host is not None:
            return self._end("Failed", self._failure_reason(failed_host), [])
        problems = copy_outputs(self.spec.get("outputs", [])) if self.kind == "processing" else []
        if problems:
            return self._end("Failed", "ClientError: " + "; ".join(problems), problems)
        return self._end("Completed", None, [])

    def _rule_stopped(self) -> bool:
        """Whether a rule job's ``stop_training`` action wrote a stop request into the trial."""
        trial = self.spec.get("debugger_trial")
        if not trial or not self.spec.get("rules"):
            return False
        from smdbg.trial import read_stop_request

        try:
            return read_stop_request(trial) is not None
        except Exception:  # an unreadable request is not a stop: the job fails with its reason
            return False

    def _failure_reason(self, host: str) -> str:
        code = self.codes.get(host)
        failure_file = Path(self.spec.get("failure_files", {}).get(host, "/nonexistent"))
        detail = ""
        if failure_file.is_file():
            detail = self.mask(failure_file.read_text(errors="replace").strip()[-2000:])
        tail = "\n".join(self.tails.get(host, []))
        head = f"AlgorithmError: worker {host} exited with status {code}"
        return f"{head}\n{detail or tail}".strip()

    def _end(self, status: str, reason: str | None, problems: list[str]) -> int:
        extra: dict[str, Any] = {self._time_key("End"): iso_now()}
        if reason:
            extra["FailureReason"] = reason
            if self.kind == "processing":
                extra["ExitMessage"] = reason
        if self.kind == "training":
            extra["FinalMetricDataList"] = sorted(self.final_metrics.values(), key=lambda d: d["MetricName"])
        secondary = {"Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}[status]
        self.tracking.finish(status, reason, self.spec)
        self._status(status, secondary, **extra)
        return 0 if status == "Completed" else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m smdbg.platform.jobs._supervisor JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0])
    name = job_dir.name
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # from here on, SIGTERM is a stop request
    try:
        secrets = json.loads(sys.stdin.read() or "{}") if _spec(job_dir).get("secrets_on_stdin") else {}
        return Supervisor(job_dir, secrets, stop).run()
    except BaseException as e:  # report, never leave a job InProgress forever
        import traceback

        traceback.print_exc()
        update_job(
            name,
            FailureReason=f"InternalError: the job supervisor failed: {e!r}",
            SecondaryStatus="Failed",
            **{_status_key(job_dir): "Failed"},
        )
        return 1


def _spec(job_dir: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((job_dir / "spec.json").read_text())
    return spec


def _status_key(job_dir: Path) -> str:
    return "TrainingJobStatus" if _spec(job_dir).get("kind") == "training" else "ProcessingJobStatus"


if __name__ == "__main__":
    sys.exit(main())
