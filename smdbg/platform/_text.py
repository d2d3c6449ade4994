"""Where a file stops being UTF-8 text, in words a user can act on (shared by AutoML and the monitor)."""

from __future__ import annotations

__all__ = ["utf8_problem"]


def utf8_problem(data: bytes, csv_header: bool | None = None) -> str | None:
    """None when ``data`` is UTF-8; else ``byte 0xe9 at line 2, column 1 ('name')``.

    ``csv_header`` (None: not a CSV) adds the CSV field number, and its header name when True.
    """
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as e:
        bad = e.start
    line_start = data.rfind(b"\n", 0, bad) + 1
    line_no = data.count(b"\n", 0, bad) + 1
    where = f"byte 0x{data[bad]:02x} at line {line_no}"
    if csv_header is not None:
        column = data.count(b",", line_start, bad)
        where += f", column {column + 1}"
        if csv_header and line_no > 1:
            names = data[: data.find(b"\n")].decode("utf-8", errors="replace").split(",")
            if column < len(names):
                where += f" ({names[column].strip()!r})"
    return where
