"""Request decoding and response encoding for ``text/csv`` and ``application/json``.

Pure functions: bytes in, rows out (and back). Every parse error is a :class:`BadRequest` that
says what was given and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from smdbg.platform.serving._errors import BadRequest

__all__ = ["base_type", "decode", "encode", "json_depth", "CSV", "JSON"]

CSV = "text/csv"
JSON = "application/json"


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"request body is not UTF-8 text ({e}); send UTF-8 encoded CSV or JSON") from None


_CHUNK_ROWS = 4096  # rows converted per numpy call: other threads get the interpreter in between


def _numeric(rows: list[list[Any]], allow_strings: bool) -> Any:
    try:
        if len(rows) <= _CHUNK_ROWS:
            return np.asarray(rows, dtype=np.float64)
        return np.concatenate(
            [
                np.asarray(rows[i : i + _CHUNK_ROWS], dtype=np.float64)
                for i in range(0, len(rows), _CHUNK_ROWS)
            ]
        )
    except (ValueError, TypeError):
        pass
    if allow_strings:
        return rows
    for i, row in enumerate(rows, 1):
        for j, cell in enumerate(row, 1):
            try:
                float(cell)
            except (ValueError, TypeError):
                raise BadRequest(
                    f"value {cell!r} in row {i}, column {j} is not a number; the model expects numeric "
                    "features (send numbers only, or give the model a feature list in metadata.json)"
                ) from None
    raise BadRequest("rows could not be read as a numeric table")  # pragma: no cover


def _check_rows(rows: list[list[Any]]) -> None:
    if not rows:
        raise BadRequest("request body holds no rows; expected at least one row of features")
    width = len(rows[0])
    for i, row in enumerate(rows, 1):
        if len(row) != width:
            raise BadRequest(
                f"row {i} has {len(row)} values but row 1 has {width}; every row needs the same number of features"
            )


def json_depth(text: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (0 for a scalar), ignoring strings."""
    a = np.frombuffer(text, dtype=np.uint8)
    if not len(a):
        return 0
    quote = a == 34  # '"'
    if quote.any():
        backslash = a == 92
        index = np.arange(len(a), dtype=np.int64)
        # a quote is escaped when the run of backslashes just before it has odd length
        last_plain = np.maximum.accumulate(np.where(backslash, -1, index))
        run = np.zeros(len(a), dtype=np.int64)
        run[1:] = index[:-1] - last_plain[:-1]
        quote &= (run & 1) == 0
        inside = (np.cumsum(quote, dtype=np.int64) & 1).astype(bool)  # within a string, or its closing quote
        outside = ~inside & ~quote
    else:
        outside = np.ones(len(a), dtype=bool)
    step = np.zeros(len(a), dtype=np.int32)
    step[((a == 91) | (a == 123)) & outside] = 1
    step[((a == 93) | (a == 125)) & outside] = -1
    return int(np.cumsum(step, dtype=np.int32).max(initial=0))


def _parse_json(body: bytes, max_depth: int | None) -> Any:
    if max_depth is not None:
        depth = json_depth(body)
        if depth > max_depth:
            raise BadRequest(
                f"JSON body is nested {depth} levels deep; this endpoint accepts at most {max_depth} "
                "(rows are 2 levels: [[1, 2], [3, 4]])"
            )
    try:
        return json.loads(_text(body))
    except json.JSONDecodeError as e:
        raise BadRequest(f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("JSON body is nested too deeply to parse; send rows as [[1, 2], [3, 4]]") from None


_ARROW_MIN_BYTES = 256 * 1024


def _csv_numeric_arrow(body: bytes) -> Any:
    """A large all-numeric CSV body as a float ndarray, parsed by Arrow (which releases the
    interpreter lock and makes no Python object per cell, so the garbage collector has nothing to
    walk); None when it is not a rectangular numeric table without gaps (the caller's slower path
    then finds the problem and names it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    types = table.schema.types
    if (
        not types
        or table.num_rows == 0
        or any(c.null_count for c in table.columns)
        or not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in types)
    ):
        return None
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float64)
    for j, column in enumerate(table.columns):
        out[:, j] = column.to_numpy()
    return out


def decode(
    body: bytes, content_type: str, feature_names: list[str] | None = None, max_depth: int | None = None
) -> Any:
    """Rows of features: a float ndarray, or a list of lists when strings are allowed.

    CSV is headerless, one row a line. JSON is a list of numbers (one row), a list of rows, a
    list of objects keyed by feature name, or ``{"instances": ...}``/``{"inputs": ...}``; one
    nested deeper than ``max_depth`` is refused before it is parsed.
    """
    kind = base_type(content_type)
    allow_strings = feature_names is not None
    if kind == CSV:
        if len(body) >= _ARROW_MIN_BYTES and not allow_strings:
            parsed = _csv_numeric_arrow(body)
            if parsed is not None:
                return parsed
        text = _text(body)
        rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
        _check_rows(rows)
        return _numeric([[c.strip() for c in row] for row in rows], allow_strings)
    if kind == JSON:
        data = _parse_json(body, max_depth)
        if isinstance(data, dict):
            for key in ("instances", "inputs", "features", "data"):
                if key in data:
                    data = data[key]
                    break
            else:
                raise BadRequest(
                    f"JSON object with keys {sorted(data)[:5]} is not a request; expected a list of rows "
                    'or {"instances": [[...], ...]}'
                )
        if not isinstance(data, list):
            raise BadRequest(
                f"JSON value of type {type(data).__name__} is not a request; expected a list of rows"
            )
        if data and not isinstance(data[0], (list, dict)):
            data = [data]
        if data and isinstance(data[0], dict):
            if feature_names is None:
                raise BadRequest(
                    "rows given as JSON objects, but the model has no feature names; send lists of values"
                )
            missing = [n for n in feature_names if n not in data[0]]
            if missing:
                raise BadRequest(f"row 1 lacks features {missing}; expected keys {feature_names}")
            data = [[row.get(n) for n in feature_names] for row in data]
        _check_rows(data)
        return _numeric(data, allow_strings)
    raise BadRequest(
        f"content type {content_type!r} is not supported; expected {CSV!r} or {JSON!r}", status=415
    )


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """Predictions as CSV (one line per row) or JSON ``{"predictions": [...]}``."""
    arr = np.asarray(prediction)
    kind = base_type(accept)
    if kind == CSV:
        if arr.ndim <= 1:
            lines = [_cell(v) for v in arr.reshape(-1).tolist()]
        else:
            lines = [",".join(_cell(v) for v in row) for row in arr.reshape(arr.shape[0], -1).tolist()]
        return ("\n".join(lines) + "\n").encode(), CSV
    if kind in (JSON, "*/*", ""):
        return json.dumps({"predictions": arr.tolist()}).encode(), JSON
    raise BadRequest(f"accept type {accept!r} is not supported; expected {CSV!r} or {JSON!r}", status=406)
