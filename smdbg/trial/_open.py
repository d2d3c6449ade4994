"""Opening a trial the smdebug way: ``create_trial``, ``LocalTrial``, ``S3Trial``, and the
``no_refresh`` / ``refresh`` context managers of ``smdebug.analysis.utils``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from smdbg import fs as _fs
from smdbg.exceptions import NoTrialFound
from smdbg.trial._source import TrialSource, open_source
from smdbg.trial._trial import Trial

__all__ = ["create_trial", "LocalTrial", "S3Trial", "no_refresh", "refresh"]

#: smdebug's ``range_steps``: ``(begin, end)``, either side None; None for every step.
RangeSteps = Sequence[int | None] | None


def _wait_for(
    path: str, timeout: float, on_corrupt: str, storage_options: Mapping[str, Any] | None, range_steps: RangeSteps
) -> TrialSource:
    """The source of the trial at ``path`` once it exists; NoTrialFound after ``timeout`` seconds."""
    source = open_source(path, on_corrupt=on_corrupt, storage_options=storage_options, range_steps=range_steps)
    deadline = time.monotonic() + timeout
    while not source.exists():
        if time.monotonic() >= deadline:
            raise NoTrialFound(source.url(), timeout)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return source


class LocalTrial(Trial):
    """A trial in a local directory (smdebug's class and constructor). ``create_trial`` returns
    one for a local path. ``parallel``, ``check``, ``index_mode`` and ``cache`` are accepted and
    change nothing: segments are always verified (CRC-32) and raw values cached."""

    def __init__(self, name: str | None, dirname: str | os.PathLike[str], range_steps: RangeSteps = None,
                 parallel: bool = True, check: bool = False, index_mode: bool = True, cache: bool = False, *,
                 timeout: float = 10.0, on_corrupt: str = "warn", refresh_interval: float = 0.2) -> None:  # fmt: skip
        path = os.path.expanduser(_fs.local_path(dirname))
        super().__init__(_wait_for(path, timeout, on_corrupt, None, range_steps), name, refresh_interval)
        self.range_steps = range_steps
        self.trial_dir = self.path


class S3Trial(Trial):
    """A trial under ``s3://bucket_name/prefix_name`` (smdebug's class and constructor), read
    through the S3 endpoint of :mod:`smdbg.fs` (``AWS_ENDPOINT_URL_S3`` for a local server)."""

    def __init__(self, name: str | None, bucket_name: str, prefix_name: str, range_steps: RangeSteps = None,
                 check: bool = False, index_mode: bool = True, cache: bool = False, *, timeout: float = 10.0,
                 on_corrupt: str = "warn", refresh_interval: float = 0.2,
                 storage_options: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        url = f"s3://{bucket_name}/{prefix_name.strip('/')}"
        super().__init__(_wait_for(url, timeout, on_corrupt, storage_options, range_steps), name, refresh_interval)
        self.bucket_name = bucket_name
        self.prefix_name = prefix_name.strip("/") + "/"
        self.range_steps = range_steps


def create_trial(
    path: str | os.PathLike[str] | None = None,
    name: str | None = None,
    range_steps: RangeSteps = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
    on_corrupt: str = "warn",
    refresh_interval: float = 0.2,
    storage_options: Mapping[str, Any] | None = None,
    parallel: bool = True,
    check: bool = False,
    index_mode: bool = True,
    cache: bool = False,
) -> Trial:
    """Open the trial at a local path or URL (``s3://...``): a :class:`LocalTrial`, an
    :class:`S3Trial`, or a :class:`Trial` for another fsspec URL. ``out_dir=`` is the same as
    ``path`` (the hook's spelling). ``name`` defaults to the last part of the path.
    ``range_steps=(begin, end)`` loads only global steps ``begin <= step < end`` (either may be
    None). Waits up to ``timeout`` seconds for the trial to appear, then raises
    :class:`NoTrialFound` naming the path. ``parallel``, ``check``, ``index_mode`` and ``cache``
    are smdebug's and change nothing here."""
    if path is None and out_dir is None:
        raise TypeError("create_trial() needs the trial's location: create_trial(path) or create_trial(out_dir=...)")
    if path is not None and out_dir is not None and os.fspath(path) != os.fspath(out_dir):
        raise ValueError(f"create_trial(path={os.fspath(path)!r}, out_dir={os.fspath(out_dir)!r}): give one location")
    where = os.fspath(path if path is not None else out_dir)  # type: ignore[arg-type]
    where = where.strip()  # as smdebug: stray whitespace around a pasted path
    if not where:
        raise ValueError("create_trial(path=''): expected a directory or a URL such as s3://bucket/prefix")
    opts: dict[str, Any] = {"timeout": timeout, "on_corrupt": on_corrupt, "refresh_interval": refresh_interval}
    if not _fs.is_remote(where):
        return LocalTrial(name, where, range_steps, **opts)
    if _fs.protocol(where) in _fs.S3_PROTOCOLS:
        bucket, _, prefix = where.split("://", 1)[1].partition("/")
        return S3Trial(name, bucket, prefix, range_steps, storage_options=storage_options, **opts)
    return Trial(_wait_for(where, timeout, on_corrupt, storage_options, range_steps), name, refresh_interval)


def _as_list(trials: Trial | Sequence[Trial]) -> list[Trial]:
    return list(trials) if isinstance(trials, (list, tuple)) else [trials]  # type: ignore[list-item]


@contextmanager
def no_refresh(trials: Trial | Sequence[Trial]) -> Iterator[Trial | Sequence[Trial]]:
    """smdebug's ``no_refresh(trials)``: inside the block, queries on these trials (one or a list)
    answer from what was loaded, so that steps and values stay the same between calls. The
    previous setting is restored on exit (smdebug turns refreshing on, even when nested)."""
    with _refreshing(trials, False):
        yield trials


@contextmanager
def refresh(trials: Trial | Sequence[Trial]) -> Iterator[Trial | Sequence[Trial]]:
    """smdebug's ``refresh(trials)``: queries inside the block refresh (the default); the previous
    setting is restored on exit."""
    with _refreshing(trials, True):
        yield trials


@contextmanager
def _refreshing(trials: Trial | Sequence[Trial], on: bool) -> Iterator[None]:
    group = _as_list(trials)
    before = [t.dynamic_refresh for t in group]
    for t in group:
        t.dynamic_refresh = on
    try:
        yield
    finally:
        for t, was in zip(group, before):
            t.dynamic_refresh = was
