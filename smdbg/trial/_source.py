"""The read interface of the trial API: what a :class:`~smdbg.trial.Trial` needs from a store.

:class:`TrialSource` is the contract, stated once; :func:`open_source` returns the one
implementation, over :class:`smdbg.store.reader.TrialReader`. This is the only module of
``smdbg.trial`` that imports ``smdbg.store``, and ``smdbg.trial`` is the only package outside the
store (and the hooks that write it) that reads or writes a trial's files.

The index is columnar: one row per saved value. String columns (tensor, worker, reduction) hold
integer codes into a :class:`Names` table that only grows; ``mode`` holds the position of the
mode's name in :data:`MODE_NAMES`. Queries are built on these columns in ``smdbg.trial``, never in
the source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import numpy.typing as npt

from smdbg.modes import ModeKeys, ModeLike, parse_mode
from smdbg.store.control import read_stop_request, request_stop
from smdbg.store.format import RAW, RULES_DIR
from smdbg.store.local_writers import publish_local
from smdbg.store.reader import MODE_NAMES, TrialReader

__all__ = [
    "Array", "Names", "TrialSource", "HasSource", "TrialLocation", "open_source", "source_of", "mode_code",
    "MODE_NAMES", "RAW", "RULES_DIR",
]  # fmt: skip

#: A column of the index (or a raw tensor): a numpy array.
Array = npt.NDArray[Any]


class Names(Protocol):
    """Strings and their integer codes: ``names[code]`` and ``index[name]``; append-only."""

    @property
    def names(self) -> list[str]: ...

    @property
    def index(self) -> Mapping[str, int]: ...


class TrialSource(Protocol):
    """What the trial API reads (and the few documents it writes) in one trial.

    Thread safety: a source may be shared by threads; :meth:`refresh` and the readers below lock
    internally. Values returned by the index members are snapshots valid until the next
    :meth:`refresh` (arrays are never changed in place).
    """

    # -- where -----------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        """The URL of the trial (or of ``path`` inside it), for messages."""
        ...

    def exists(self) -> bool:
        """Whether a trial has been started here (metadata or a worker directory)."""
        ...

    # -- the index, picked up incrementally -------------------------------------------------------
    def publish_pending(self) -> int:
        """Ask the writers of this trial that live in this process to publish what they were
        handed (records and progress), returning once it is on storage. Returns a number that
        changes whenever one of them published something (0 when none lives here): a reader
        that saw another number last time refreshes. Cheap when nothing is pending. Writers in
        other processes publish on their own, within their flush interval."""
        ...

    def refresh(self) -> int:
        """Load what was published since the last call; returns how many rows were added.
        Raises ``UnsupportedFormatVersion`` for a trial written by a newer smdbg."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The trial's metadata document (framework, collections, ``num_workers``); {} if none."""
        ...

    @property
    def worker_dirs(self) -> Sequence[str]:
        """The worker directories present, sorted."""
        ...

    @property
    def progress(self) -> Mapping[str, Mapping[str, Any]]:
        """Per worker directory, its last progress marker: ``step``, ``mode_steps``, ``time``."""
        ...

    @property
    def ended(self) -> Mapping[str, Mapping[str, Any]]:
        """Per worker directory that closed, its end-of-training marker."""
        ...

    @property
    def corrupt(self) -> Mapping[str, str]:
        """Segments that could not be read: path -> reason."""
        ...

    def abnormal_ends(self) -> dict[str, str]:
        """Worker directories whose writer ended abnormally (write error at close, or died), with why."""
        ...

    @property
    def tensors(self) -> Names: ...

    @property
    def workers(self) -> Names: ...

    @property
    def reductions(self) -> Names: ...

    @property
    def tensor_collections(self) -> Mapping[str, set[str]]:
        """Tensor name -> the collections it was saved in."""
        ...

    @property
    def nrows(self) -> int: ...

    @property
    def cols(self) -> Mapping[str, Array]:
        """Every index column of the trial: step, mode, mode_step, worker, tensor, reduction,
        value, wall_time, row."""
        ...

    def tensor_cols(self, name: str) -> Mapping[str, Array]:
        """The index columns of one tensor's rows, in write order (empty arrays if unknown)."""
        ...

    def unique_steps(self, mode_code: int | None) -> Array:
        """Sorted distinct global steps (``None``) or steps of one mode."""
        ...

    def modes_present(self) -> list[int]:
        """Mode codes that have rows."""
        ...

    # -- raw tensors ------------------------------------------------------------------------------
    def row_array(self, row: int) -> Array:
        """The raw tensor of one row, with its dtype and shape (read lazily, cached)."""
        ...

    def row_info(self, row: int) -> Mapping[str, Any]:
        """``dtype``, ``shape`` and ``collections`` of one row."""
        ...

    def row_histogram(self, row: int) -> tuple[Array, Array]:
        """The histogram of one ``histogram`` row: (bin edges, counts); raises when the row
        holds none."""
        ...

    # -- documents beside the data: stop requests and rule statuses -------------------------------
    def stop_request(self) -> dict[str, Any] | None:
        """The stop request written into the trial, or None."""
        ...

    def request_stop(self, reason: str, **details: Any) -> dict[str, Any]:
        """Ask the hooks writing the trial to stop at their next step boundary."""
        ...

    def read_document(self, path: str) -> bytes | None:
        """A small document at ``path`` (relative to the trial), or None if it is not there."""
        ...

    def write_document(self, path: str, data: bytes) -> None:
        """Replace the document at ``path`` atomically: a reader sees the old or the new one whole."""
        ...

    def list_documents(self, directory: str) -> list[str]:
        """Names in ``directory`` (relative to the trial); [] if it does not exist."""
        ...


class _StoreSource:
    """:class:`TrialSource` over the store's :class:`TrialReader` (which already has most of it)."""

    def __init__(self, reader: TrialReader) -> None:
        self._r = reader
        self._fs = reader.fs
        # Objects that live as long as the reader, and its methods: bound once, called directly.
        self.tensors = reader.tensors
        self.workers = reader.workers
        self.reductions = reader.reductions
        self.progress = reader.progress
        self.ended = reader.ended
        self.tensor_collections = reader.tensor_collections
        self.url = self._fs.url
        self.exists = reader.exists
        self.refresh = reader.refresh
        self.tensor_cols = reader.tensor_cols
        self.unique_steps = reader.unique_steps
        self.modes_present = reader.modes_present
        self.row_array = reader.row_array
        self.row_info = reader.row_info
        self.row_histogram = reader.row_histogram
        self.abnormal_ends = reader.abnormal_ends

    def publish_pending(self) -> int:
        return publish_local(self._fs)

    # The reader replaces these on refresh: read through.
    @property
    def metadata(self) -> Mapping[str, Any]:
        return self._r.metadata

    @property
    def worker_dirs(self) -> Sequence[str]:
        return self._r.worker_dirs

    @property
    def nrows(self) -> int:
        return self._r.nrows

    @property
    def corrupt(self) -> Mapping[str, str]:  # reads segments known only from a manifest first
        return self._r.corrupt

    @property
    def cols(self) -> Mapping[str, Array]:
        return self._r.cols

    def stop_request(self) -> dict[str, Any] | None:
        got = read_stop_request(self._fs)
        return None if got is None else dict(got)

    def request_stop(self, reason: str, **details: Any) -> dict[str, Any]:
        return request_stop(self._fs, reason, **details)

    def read_document(self, path: str) -> bytes | None:
        try:
            return self._fs.read_bytes(path)
        except FileNotFoundError:
            return None

    def write_document(self, path: str, data: bytes) -> None:
        self._fs.write_atomic(path, data, fsync=False)

    def list_documents(self, directory: str) -> list[str]:
        return list(self._fs.list_dir(directory))


def open_source(
    path: str | os.PathLike[str],
    *,
    on_corrupt: str = "warn",
    storage_options: Mapping[str, Any] | None = None,
    range_steps: Sequence[int | None] | None = None,
) -> TrialSource:
    """The source of the trial at a local path or URL. Cheap: nothing is read until asked for,
    so it also serves a trial that has not started yet (its stop request, its rule statuses).
    ``range_steps=(begin, end)``: only global steps ``begin <= step < end`` are loaded (either
    side may be None); ValueError names a bad pair."""
    reader = TrialReader(path, on_corrupt=on_corrupt, storage_options=storage_options, step_range=range_steps)
    return _StoreSource(reader)


class HasSource(Protocol):
    """Anything that reads a trial through a source (a :class:`~smdbg.trial.Trial`)."""

    @property
    def source(self) -> TrialSource: ...


#: Where a trial is: its path or URL, a source, or an open trial.
TrialLocation = str | os.PathLike[str] | TrialSource | HasSource


def source_of(where: TrialLocation, storage_options: Mapping[str, Any] | None = None) -> TrialSource:
    """The source of ``where``: an open trial's own (with its storage options), or a new one."""
    if isinstance(where, (str, os.PathLike)):
        return open_source(where, storage_options=storage_options)
    source = getattr(where, "source", None)
    return cast(TrialSource, where if source is None else source)


def mode_code(mode: ModeLike | None) -> int | None:
    """None for global step numbering, else the position of the mode in :data:`MODE_NAMES`."""
    if mode is None:
        return None
    m = parse_mode(mode)
    return None if m is ModeKeys.GLOBAL else MODE_NAMES.index(m.name)
