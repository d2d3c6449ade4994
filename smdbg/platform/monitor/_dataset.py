"""Reading the data a monitor analyses: CSV/JSON datasets, and data-capture JSONL files.

Columns without a header are named ``_c0``, ``_c1``, ... as SageMaker names them. Captured
requests become rows of the endpoint's input features (CSV and JSON payloads; other encodings
are counted and skipped).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from smdbg.fs import list_files, read_bytes
from smdbg.platform.monitor._errors import DatasetError

__all__ = ["DatasetFormat", "read_dataset", "read_capture", "table_from_rows"]


class DatasetFormat:
    """Dataset format dicts, as the SageMaker SDK spells them."""

    @staticmethod
    def csv(header: bool = True, output_columns_position: str = "START") -> dict[str, Any]:
        return {"csv": {"header": header, "output_columns_position": output_columns_position}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        return {"json": {"lines": lines}}


def _csv_table(data: bytes, header: bool, source: str) -> pa.Table:
    read = pacsv.ReadOptions(autogenerate_column_names=not header, block_size=1 << 24)
    convert = pacsv.ConvertOptions(strings_can_be_null=True)
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            return pa.table({})
        if header:
            raise DatasetError(f"cannot read CSV {source}: {e}; expected a rectangular CSV file") from e
        return table_from_rows(list(csv.reader(io.StringIO(data.decode(errors="replace")))))
    if not header:
        table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    return table


def table_from_rows(rows: list[list[Any]]) -> pa.Table:
    """A table from ragged rows of values (short rows padded with nulls), types inferred."""
    rows = [r for r in rows if r]
    width = max((len(r) for r in rows), default=0)
    columns = {}
    for j in range(width):
        cells = [(r[j] if j < len(r) else None) for r in rows]
        cells = [None if (c is None or (isinstance(c, str) and not c.strip())) else c for c in cells]
        text = pa.array([None if c is None else str(c).strip() for c in cells], pa.string())
        for target in (pa.int64(), pa.float64()):
            try:
                columns[f"_c{j}"] = text.cast(target)
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        else:
            columns[f"_c{j}"] = text
    return pa.table(columns)


def read_dataset(uri: str, dataset_format: dict[str, Any] | None = None) -> pa.Table:
    """Read a CSV or JSON dataset (a file, or every file under a directory/prefix)."""
    fmt = dataset_format or DatasetFormat.csv()
    files = list_files(uri)
    if not files:
        raise DatasetError(f"dataset {uri!r} does not exist or holds no files; expected a CSV or JSON file")
    tables = []
    for f in files:
        data = read_bytes(f)
        if "csv" in fmt:
            t = _csv_table(data, bool(fmt["csv"].get("header", True)), f)
        elif "json" in fmt:
            if fmt["json"].get("lines", True):
                records = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            else:
                loaded = json.loads(data or b"[]")
                records = loaded if isinstance(loaded, list) else [loaded]
            t = pa.Table.from_pylist(records)
        else:
            raise DatasetError(f"dataset_format={fmt!r} is not supported; use DatasetFormat.csv() or .json()")
        if t.num_rows:
            tables.append(t)
    if not tables:
        raise DatasetError(f"dataset {uri!r} has no rows; expected at least one data row")
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as e:
        raise DatasetError(f"the files under {uri!r} do not share one schema: {e}") from e


def _payload_rows(payload: dict[str, Any]) -> list[list[Any]]:
    encoding = str(payload.get("encoding", "")).upper()
    data = payload.get("data", "")
    ctype = str(payload.get("observedContentType", "")).split(";")[0].strip().lower()
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8", errors="replace")
        encoding = "JSON" if "json" in ctype else "CSV" if "csv" in ctype else ""
    if encoding == "CSV":
        return [row for row in csv.reader(io.StringIO(data)) if row]
    if encoding == "JSON":
        value = json.loads(data)
        if isinstance(value, dict):
            value = next((value[k] for k in ("instances", "inputs", "features", "data") if k in value), [])
        if isinstance(value, list) and value and not isinstance(value[0], list):
            value = [value]
        return [list(v.values()) if isinstance(v, dict) else list(v) for v in value]
    return []


def read_capture(uri: str, start: str | None = None, end: str | None = None) -> tuple[pa.Table, int]:
    """Input feature rows of every capture record under ``uri`` with ``start <= inferenceTime < end``.

    Times are ISO strings (``2024-05-01T12:00:00Z``) compared as text. Returns the table and the
    number of records read.
    """
    rows: list[list[Any]] = []
    n_records = 0
    for f in list_files(uri, ".jsonl"):
        for line in read_bytes(f).decode().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            when = record.get("eventMetadata", {}).get("inferenceTime", "")
            if (start and when < start) or (end and when >= end):
                continue
            n_records += 1
            payload = record.get("captureData", {}).get("endpointInput")
            if payload:
                rows.extend(_payload_rows(payload))
    if not rows:
        return pa.table({}), n_records
    width = len(rows[0])
    if all(len(r) == width for r in rows):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return _csv_table(buf.getvalue().encode(), False, uri), n_records
    return table_from_rows(rows), n_records
