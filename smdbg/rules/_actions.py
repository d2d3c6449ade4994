"""Actions a rule job takes on a finding: stop the training, or POST the finding to a URL.

A rule job runs its actions in order with ``stop_training`` first. ``stop_training`` writes its
request at once, on the job's thread. ``notify`` only queues the finding: its own thread POSTs
it with a timeout and a bounded number of retries, so a slow or dead webhook never delays the
rule or the stop. Failures come back through :meth:`Action.drain_errors` into the rule status.
URLs are checked when the action is made (a malformed one is a :class:`RuleConfigError` before
the job starts), and credentials in them never reach a status or a log line.
"""

from __future__ import annotations

import abc
import base64
import json
import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from smdbg._secrets import SECRET_PARAM
from smdbg.rules._errors import RuleConfigError
from smdbg.trial import Finding, Trial, request_stop

__all__ = ["Action", "StopTraining", "Notify", "parse_action", "redact_url"]

log = logging.getLogger(__name__)



def redact_url(url: str) -> str:
    """``url`` with its user info and the values of secret-looking query parameters as ``***``.

    ``http://bob:pw@host/hook?token=abc&x=1`` -> ``http://***@host/hook?token=***&x=1``.
    Secrets carried in the path itself cannot be told apart and are kept.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        (f"{k}=***" if sep and SECRET_PARAM.search(k) else f"{k}{sep}{v}")
        for k, sep, v in (item.partition("=") for item in parts.query.split("&"))
    ) if parts.query else ""  # fmt: skip
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Action(abc.ABC):
    """Something done when a rule finds an issue.

    ``fire`` may raise OSError; the job records it and goes on. An action that works in the
    background reports its failures through :meth:`drain_errors` and finishes in :meth:`close`.
    """

    @abc.abstractmethod
    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        """React to one ``finding`` of rule ``rule`` in ``trial`` (``trial.path`` is its URL)."""

    def describe(self) -> str:
        """How the action shows in a rule status (never with credentials)."""
        return type(self).__name__

    def drain_errors(self) -> list[str]:
        """Failures since the last call, one line each (credentials redacted)."""
        return []

    def close(self, timeout: float) -> None:  # noqa: B027 - a no-op unless the action works in the background
        """Finish background work, waiting at most ``timeout`` seconds. Safe to call twice."""


class StopTraining(Action):
    """Writes a stop request into the trial (once); hooks end training at their next step boundary."""

    def __init__(self) -> None:
        self.fired = False

    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        if self.fired:
            return
        request_stop(
            trial,
            f"rule {rule}: {finding.message}",
            rule=rule,
            step=finding.step,
            finding=finding.to_dict(),
        )
        self.fired = True

    def describe(self) -> str:
        return "stop_training"


def _check_url(url: str) -> urllib.parse.SplitResult:
    shown = redact_url(url)
    problem = None
    parts = urllib.parse.SplitResult("", "", "", "", "")
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        problem = "it is empty or holds spaces or control characters"
    else:
        try:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https"):
                problem = "the scheme must be http or https"
            elif not parts.hostname:
                problem = "it names no host"
            else:
                parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError as e:
            problem = str(e)
    if problem is not None:
        raise RuleConfigError(
            f"notify URL {shown!r} is not valid ({problem}); expected http(s)://host[:port]/path, "
            "e.g. notify=http://127.0.0.1:8080/hook"
        )
    return parts


class Notify(Action):
    """POSTs each finding (the first ``limit``) as JSON to ``url``, from its own thread.

    Each POST waits at most ``timeout`` seconds and is tried ``retries`` more times (after
    ``backoff``, doubling) when the connection fails, times out, or the answer is 408, 429 or 5xx.
    User info in the URL (``http://user:password@host/...``) is sent as HTTP Basic authentication.
    At most ``max_queued`` findings wait to be sent; more are counted as errors.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        limit: int = 100,
        headers: Mapping[str, str] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        max_queued: int = 1000,
    ) -> None:
        parts = _check_url(url)
        self.url = url
        self.timeout = timeout
        self.limit = limit
        self.retries = retries
        self.backoff = backoff
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.headers.setdefault("Authorization", f"Basic {token}")
        host = parts.netloc.rsplit("@", 1)[-1]
        self._target = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
        self.sent = 0  # findings handed to the sender
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_queued)
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def describe(self) -> str:
        return f"notify={redact_url(self.url)}"

    def fire(self, trial: Trial, rule: str, finding: Finding) -> None:
        if self.sent >= self.limit or self._closed:
            return
        body = json.dumps({"rule": rule, "trial": trial.path, "finding": finding.to_dict()}).encode()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="smdbg-notify", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._error(
                f"finding at step {finding.step} not sent: {self._queue.maxsize} notifications already wait"
            )
            return
        self.sent += 1

    def _error(self, message: str) -> None:
        line = f"{self.describe()}: {message}"
        log.warning("%s", line)
        with self._lock:
            self._errors.append(line)

    def drain_errors(self) -> list[str]:
        with self._lock:
            out, self._errors = self._errors, []
        return out

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            failure = self._post(body)
            if failure is None:
                self.delivered += 1
            else:
                self.failed += 1
                self._error(failure)

    def _post(self, body: bytes) -> str | None:
        """POST with retries; None when delivered, else why not (without the URL's secrets)."""
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self._target, data=body, method="POST", headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    resp.read()
                return None
            except urllib.error.HTTPError as e:
                why = f"HTTP {e.code}"
                if e.code < 500 and e.code not in (408, 429):
                    return f"{why} (not retried)"
            except (OSError, ValueError) as e:  # URLError, timeouts, refused connections
                reason = getattr(e, "reason", e)
                why = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        return f"{why} after {self.retries + 1} attempts"

    def close(self, timeout: float) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=max(timeout, 0.001))
        except queue.Full:
            pass
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            left = self.sent - self.delivered - self.failed
            self._error(f"{left} notification(s) still unsent after waiting {timeout:.1f}s; given up")


def parse_action(text: str | Action) -> Action:
    """``stop_training`` or ``notify=URL`` (the CLI's ``--action`` values); a malformed URL raises
    :class:`RuleConfigError` now."""
    if isinstance(text, Action):
        return text
    name, _, arg = str(text).partition("=")
    name = name.strip().lower()
    if name in ("stop_training", "stoptraining") and not arg:
        return StopTraining()
    if name in ("notify", "webhook") and arg:
        return Notify(arg.strip())
    raise RuleConfigError(f"unknown action {redact_url(str(text))!r}: expected stop_training or notify=URL")
