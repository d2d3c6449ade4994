"""Schedule expressions and the local scheduler that runs monitoring executions.

Expressions: ``cron(Minutes Hours Day-of-month Month Day-of-week Year)`` as AWS writes them
(``*``, ``?``, numbers, ``a-b``, ``a,b``, ``*/n``, ``a/n``; day-of-week 1-7 = SUN-SAT or
``MON``...; months 1-12 or ``JAN``...; times in UTC), and ``rate(N minute[s]|hour[s]|day[s])``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable

from smdbg.platform.monitor._errors import ScheduleError

__all__ = ["CronExpressionGenerator", "Schedule", "parse_schedule", "LocalScheduler"]

log = logging.getLogger("smdbg.monitor.schedule")

_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (("minutes", 0, 59, {}), ("hours", 0, 23, {}), ("day-of-month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day-of-week", 1, 7, _DAYS), ("year", 1970, 2199, {}))  # fmt: skip


class CronExpressionGenerator:
    """Ready-made expressions (as in the SageMaker SDK)."""

    @staticmethod
    def hourly() -> str:
        return "cron(0 * ? * * *)"

    @staticmethod
    def daily(hour: int = 0) -> str:
        if not 0 <= hour <= 23:
            raise ScheduleError(f"hour={hour!r} is not valid; expected 0-23")
        return f"cron(0 {hour} ? * * *)"

    @staticmethod
    def daily_every_x_hours(hour_interval: int, starting_hour: int = 0) -> str:
        return f"cron(0 {starting_hour}/{hour_interval} ? * * *)"


def _field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int] | None:
    if text in ("*", "?"):
        return None

    def value(tok: str) -> int:
        tok = tok.upper()
        if tok in names:
            return names[tok]
        if not tok.isdigit() or not lo <= int(tok) <= hi:
            raise ScheduleError(f"{name} value {tok!r} is not valid; expected {lo}-{hi}")
        return int(tok)

    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ScheduleError(f"{name} step {step_text!r} is not valid; expected a positive integer")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = value(a), value(b)
        else:
            start = value(base)
            end = hi if step else start
        out.update(range(start, end + 1, step or 1))
    return frozenset(out)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed expression; :meth:`next_after` gives the next fire time (UTC, minute precision)."""

    expression: str
    fields: tuple[frozenset[int] | None, ...] = ()
    interval: dt.timedelta | None = None

    def next_after(self, after: dt.datetime) -> dt.datetime:
        after = after.astimezone(dt.timezone.utc)
        if self.interval is not None:
            return after + self.interval
        minutes, hours, dom, months, dow, years = self.fields
        t = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        day = t.date()
        for _ in range(366 * 8):
            if (
                (years is None or day.year in years)
                and (months is None or day.month in months)
                and (dom is None or day.day in dom)
                and (dow is None or (day.isoweekday() % 7) + 1 in dow)
            ):
                for h in sorted(hours) if hours is not None else range(24):
                    for m in sorted(minutes) if minutes is not None else range(60):
                        cand = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=dt.timezone.utc)
                        if cand >= t:
                            return cand
            day += dt.timedelta(days=1)
        raise ScheduleError(f"schedule {self.expression!r} never fires after {after.isoformat()}")


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.I)


def parse_schedule(expression: str) -> Schedule:
    """Parse ``cron(...)`` or ``rate(...)``; raises :class:`ScheduleError` naming the bad part."""
    expr = expression.strip()
    rate = _RATE.match(expr)
    if rate:
        n, unit = int(rate.group(1)), rate.group(2).lower().rstrip("s")
        if n < 1:
            raise ScheduleError(f"schedule {expression!r}: the rate must be at least 1")
        return Schedule(expr, interval=dt.timedelta(**{f"{unit}s": n}))
    if not (expr.startswith("cron(") and expr.endswith(")")):
        raise ScheduleError(
            f"schedule {expression!r} is not valid; expected 'cron(M H DoM Mon DoW Y)' (e.g. "
            f"{CronExpressionGenerator.hourly()!r}) or 'rate(N minutes|hours|days)'"
        )
    parts = expr[5:-1].split()
    if len(parts) not in (5, 6):
        raise ScheduleError(
            f"schedule {expression!r} has {len(parts)} fields; expected 6 (minutes hours day-of-month "
            "month day-of-week year)"
        )
    parts = parts + ["*"] * (6 - len(parts))
    fields = tuple(_field(p, *spec) for p, spec in zip(parts, _FIELDS))
    return Schedule(expr, fields=fields)


class LocalScheduler:
    """A daemon thread that calls ``job(window_start, window_end)`` at each fire time.

    The window is (previous fire time, this fire time]; the first window starts when the
    schedule was created. :meth:`run_pending` runs one execution now (for tests and catch-up).
    Errors in ``job`` are logged and kept in ``errors``; the schedule goes on.
    """

    def __init__(self, schedule: Schedule, job: Callable[[dt.datetime, dt.datetime], object]) -> None:
        self.schedule = schedule
        self.job = job
        self.errors: list[str] = []
        self._last = dt.datetime.now(dt.timezone.utc)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def next_fire(self) -> dt.datetime:
        return self.schedule.next_after(self._last)

    def run_pending(self, now: dt.datetime | None = None) -> object:
        with self._lock:
            end = now or dt.datetime.now(dt.timezone.utc)
            start, self._last = self._last, end
            try:
                return self.job(start, end)
            except Exception as e:
                self.errors.append(f"{type(e).__name__}: {e}")
                log.exception("monitoring execution for window %s - %s failed", start, end)
                return None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="smdbg-monitor-schedule", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            fire = self.next_fire
            wait = (fire - dt.datetime.now(dt.timezone.utc)).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return
            if dt.datetime.now(dt.timezone.utc) >= fire:
                self.run_pending(fire)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
