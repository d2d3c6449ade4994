"""A segment's Parquet bytes: writing a table (row groups, page checksums, a CRC-32 of the whole
file) and reading it back (all of it, some row groups, or the row groups holding some rows).

Pure functions apart from pyarrow; no I/O beyond the file object or bytes they are given.
"""

from __future__ import annotations

import functools
import inspect
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from smdbg.exceptions import CorruptSegmentError, UnsupportedFormatVersion
from smdbg.store.format import ADDED_COLUMNS, FORMAT_VERSION, FORMAT_VERSION_KEY, META_COLUMNS, schema

__all__ = [
    "ROW_GROUP_BYTES", "Scratch", "page_checksums_supported", "parquet_bytes", "decode_segment", "decode_rows",
]  # fmt: skip

ROW_GROUP_BYTES = 8 << 20  # raw-tensor segments are cut into row groups of about this size


class Scratch:
    """Memory reused from one segment to the next (no page faults, no growing copies)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None or arr.size < size:
            arr = self._arrays[name] = np.empty(size + size // 4 + (1 << 20), dtype=np.uint8)
        return arr


@functools.cache
def _page_checksum_kwargs() -> tuple[dict[str, bool], dict[str, bool]]:
    """Parquet page CRCs where pyarrow has them (>= 14): (write_table kwargs, ParquetFile kwargs).

    Older pyarrow (12, 13; the MXNet environment) writes and reads without page CRCs; the
    whole-segment CRC-32 in the file name applies either way.
    """
    import pyarrow.parquet as pq

    write = "write_page_checksum" in inspect.signature(pq.write_table).parameters
    read = "page_checksum_verification" in inspect.signature(pq.ParquetFile.__init__).parameters
    return (
        {"write_page_checksum": True} if write else {},
        {"page_checksum_verification": True} if read else {},
    )


def page_checksums_supported() -> bool:
    """Whether this pyarrow writes and verifies Parquet page checksums."""
    write, read = _page_checksum_kwargs()
    return bool(write and read)


_DELTA_COLUMNS = ("step", "mode_step")
_NOT_DICTIONARY = ("data", "value", "wall_time", *_DELTA_COLUMNS)


def _leaf_paths(field: Any) -> list[str]:
    """The Parquet column paths of a field, which per-column options are keyed by: a list's
    values are ``<name>.list.element`` (``.list.item`` as pyarrow < 13 writes them)."""
    import pyarrow as pa

    if pa.types.is_list(field.type):
        return [f"{field.name}.list.element", f"{field.name}.list.item"]
    return [field.name]


def parquet_bytes(
    table: Any, nbytes: int, compression: str = "zstd", scratch: Scratch | None = None,
    groups: Sequence[int] | None = None,
) -> tuple[Any, int]:  # fmt: skip
    """A segment table as Parquet bytes and their CRC-32: compressed columns (but raw data),
    dictionary-encoded strings and lists, delta-encoded steps, page checksums where supported, and row groups of ``groups`` rows each when given (they must add
    up to the table's rows), else of about ROW_GROUP_BYTES of its ``nbytes``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sch = table.schema
    n = table.num_rows
    leaves = {f.name: _leaf_paths(f) for f in sch}
    options: dict[str, Any] = {
        "compression": {p: (compression if c != "data" else "none") for c in sch.names for p in leaves[c]},
        "use_dictionary": [p for c in sch.names if c not in _NOT_DICTIONARY for p in leaves[c]],
        # step numbers as deltas: a few bits a row, in step order and in tensor order alike
        "column_encoding": {c: "DELTA_BINARY_PACKED" for c in _DELTA_COLUMNS if c in leaves},
        "write_statistics": ["step", "mode_step"],
        **_page_checksum_kwargs()[0],
    }
    if groups is None:
        groups = [max(1, int(n * ROW_GROUP_BYTES / max(nbytes, 1))) if nbytes > ROW_GROUP_BYTES else max(n, 1)]
        groups = [min(groups[0], n - i) for i in range(0, n, groups[0])] or [0]

    def write(sink: Any) -> None:
        with pq.ParquetWriter(sink, sch, **options) as writer:
            start = 0
            for rows in groups:  # one write per row group: each call ends its own group
                writer.write_table(table.slice(start, rows), row_group_size=max(rows, 1))
                start += rows

    body: Any
    if scratch is not None:
        # Write into reused memory sized for the payload plus generous metadata room.
        out = scratch.get("out", nbytes + 64 * n + (4 << 20))
        try:
            sink = pa.FixedSizeBufferWriter(pa.py_buffer(out))
            write(sink)
            body = memoryview(out)[: sink.tell()]  # type: ignore[arg-type]
            return body, zlib.crc32(body)
        except (pa.ArrowException, OSError):
            pass  # more metadata than estimated: fall back to a growing buffer
    grow = pa.BufferOutputStream()
    write(grow)
    body = grow.getvalue().to_pybytes()
    return body, zlib.crc32(body)


def _vanished(path: str, e: BaseException) -> FileNotFoundError | None:
    """A FileNotFoundError where the file was deleted while it was being read (an S3 object
    opened, then removed by a merge before its ranged reads): the caller follows the segment
    into the merge that took its rows, as for a file missing at open. Not a corrupt segment."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, FileNotFoundError):
            return FileNotFoundError(f"{path} was removed while it was being read ({seen})")
        seen = seen.__cause__ or seen.__context__
    return None


def _open(path: str, body: Any, expected_crc: int | None, read_dictionary: Sequence[str]) -> Any:
    """A ``pq.ParquetFile`` over bytes (checked against ``expected_crc`` unless None) or a file,
    of a format version this library reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if expected_crc is not None:
        crc = zlib.crc32(body)
        if crc != expected_crc:
            raise CorruptSegmentError(
                path, f"CRC-32 is {crc:08x}, the name says {expected_crc:08x} (truncated or altered)"
            )
    try:
        source = body if hasattr(body, "read") else pa.BufferReader(body)  # a file, or bytes
        pf = pq.ParquetFile(source, read_dictionary=list(read_dictionary), **_page_checksum_kwargs()[1])
        meta = pf.schema_arrow.metadata or {}
    except Exception as e:  # pyarrow raises several types for damaged files
        raise _vanished(path, e) or CorruptSegmentError(path, f"does not parse as a Parquet segment ({e})") from e
    version = int(meta.get(FORMAT_VERSION_KEY, b"0"))
    if version > FORMAT_VERSION:
        raise UnsupportedFormatVersion(path, version, FORMAT_VERSION)
    return pf


def _read(path: str, pf: Any, columns: Sequence[str], row_groups: Sequence[int] | None) -> Any:
    """``columns`` of the file (of ``row_groups`` only, if given); columns added by a later
    format version than the file's read as nulls."""
    import pyarrow as pa

    present = set(pf.schema_arrow.names)
    missing = [c for c in columns if c not in present and c in ADDED_COLUMNS]
    columns = [c for c in columns if c not in missing]
    # use_threads=False: pyarrow's pool tasks would hold `body` (Python-owned memory) and may
    # release it after the interpreter began finalizing, which aborts the process.
    try:
        if row_groups is not None:
            table = pf.read_row_groups(list(row_groups), columns=columns, use_threads=False)
        else:
            table = pf.read(columns=columns, use_threads=False)
    except Exception as e:  # noqa: BLE001 - a page checksum or decoding failure
        raise _vanished(path, e) or CorruptSegmentError(path, f"does not parse as a Parquet segment ({e})") from e
    for c in missing:
        table = table.append_column(schema().field(c), pa.nulls(table.num_rows, schema().field(c).type))
    return table


def _info(pf: Any) -> dict[bytes, Any]:
    info: dict[bytes, Any] = dict(pf.schema_arrow.metadata or {})
    info[b"row_groups"] = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    return info


def decode_segment(
    path: str,
    body: Any,
    expected_crc: int | None,
    columns: Sequence[str] = META_COLUMNS,
    read_dictionary: Sequence[str] = (),
    row_groups: Sequence[int] | None = None,
) -> tuple[Any, dict[bytes, Any]]:
    """The Arrow table of a segment's ``columns`` (of some ``row_groups`` only, if given) and the
    file's key-value metadata, plus ``b"row_groups"``: the number of rows of each row group.

    ``expected_crc=None`` skips the CRC check (for re-reads of a file verified before).
    Raises CorruptSegmentError / UnsupportedFormatVersion naming ``path``.
    """
    pf = _open(path, body, expected_crc, read_dictionary)
    return _read(path, pf, columns, row_groups), _info(pf)


def decode_rows(
    path: str, body: Any, rows: np.ndarray, columns: Sequence[str], read_dictionary: Sequence[str] = (),
    expected_crc: int | None = None,
) -> tuple[Any, np.ndarray, dict[bytes, Any]]:  # fmt: skip
    """The row groups of a segment (bytes, or a file for ranged reads) that hold ``rows`` (sorted
    file row numbers): (their ``columns``, where ``rows`` are in that table, metadata as
    :func:`decode_segment`'s plus ``b"whole"``: every row group was needed, so the table is the
    whole file's, ``b"groups_read"``, and for a file ``b"bytes_read"``: the compressed size of
    the chunks read).
    Page checksums are verified where supported, the CRC-32 of bytes when ``expected_crc`` is
    given. IndexError: a row past the file's end."""
    pf = _open(path, body, expected_crc, read_dictionary)
    info = _info(pf)
    counts = info[b"row_groups"]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if len(rows) and (int(rows[0]) < 0 or int(rows[-1]) >= int(starts[-1])):
        raise IndexError(f"rows up to {int(rows[-1])} asked of {path}, which holds {int(starts[-1])}")
    group_of = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group_of)
    whole = len(groups) == len(counts)
    first_row = np.concatenate([[0], np.cumsum(np.asarray(counts)[groups])]).astype(np.int64)
    local = rows - starts[group_of] + first_row[np.searchsorted(groups, group_of)]
    table = _read(path, pf, columns, None if whole else groups.tolist())
    info[b"whole"] = whole
    info[b"groups_read"] = len(groups)
    info[b"bytes_read"] = None if not hasattr(body, "read") else sum(
        pf.metadata.row_group(g).column(c).total_compressed_size
        for g in groups.tolist()
        for c in range(pf.metadata.num_columns)
        if pf.metadata.row_group(g).column(c).path_in_schema.split(".")[0] in columns
    )  # fmt: skip
    return table, local, info
