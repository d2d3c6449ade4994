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
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from smdbg.fs import list_files, read_bytes
from smdbg.platform._text import utf8_problem
from smdbg.platform.monitor._errors import DatasetError

__all__ = ["DatasetFormat", "read_dataset", "read_capture", "table_from_rows", "check_finite", "utf8_text"]


class DatasetFormat:
    """Dataset format dicts, as the SageMaker SDK spells them."""

    @staticmethod
    def csv(header: bool = True, output_columns_position: str = "START") -> dict[str, Any]:
        return {"csv": {"header": header, "output_columns_position": output_columns_position}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        return {"json": {"lines": lines}}


def utf8_text(data: bytes, source: str, header: bool | None = None) -> str:
    """``data`` decoded as UTF-8, or a :class:`DatasetError` naming the file, line and column
    (the CSV field, with its header name when ``header``) of the first byte that is not."""
    problem = utf8_problem(data, header)
    if problem is None:
        return data.decode("utf-8")
    raise DatasetError(
        f"{source} is not UTF-8 text: {problem} cannot be decoded; re-encode the file as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8 in.csv > out.csv)"
    )


def _csv_table(data: bytes, header: bool, source: str) -> pa.Table:
    read = pacsv.ReadOptions(autogenerate_column_names=not header, block_size=1 << 24)
    convert = pacsv.ConvertOptions(strings_can_be_null=True)
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            return pa.table({})
        if "UTF8" in str(e).upper():
            utf8_text(data, source, header)
        if header:
            raise DatasetError(f"cannot read CSV {source}: {e}; expected a rectangular CSV file") from e
        return table_from_rows(list(csv.reader(io.StringIO(utf8_text(data, source, header)))))
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
        utf8_text(data, source, header)  # Arrow keeps text that is not UTF-8 as binary: say where
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
                records = [json.loads(line) for line in utf8_text(data, f).splitlines() if line.strip()]
            else:
                loaded = json.loads(utf8_text(data, f) or "[]")
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
        for line in utf8_text(read_bytes(f), f).splitlines():
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


_INF_TEXT = r"^\s*[+-]?inf(inity)?\s*$"


def check_finite(table: pa.Table, source: str) -> None:
    """Raise :class:`DatasetError` naming the first column of ``table`` holding an infinite number
    (a float, or text such as ``inf``), with the count and first row (1-based, header not counted)."""
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_floating(col.type):
            mask = pc.is_inf(col)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            mask = pc.match_substring_regex(col, _INF_TEXT, ignore_case=True)
        else:
            continue
        count = int(pc.sum(pc.fill_null(mask, False)).as_py() or 0)
        if count:
            first = int(pc.index(pc.fill_null(mask, False), True).as_py()) + 1
            raise DatasetError(
                f"column {name!r} of {source} holds {count} infinite value(s) (first in data row {first}); "
                "statistics need finite numbers: drop or replace them (empty, null and NaN count as missing)"
            )
